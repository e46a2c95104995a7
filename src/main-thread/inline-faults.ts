/**
 * Inline mode's answer to an asynchronous application error (a throw in a timer, a promise
 * rejected with nobody to catch it). With workers, such an error ends one worker, which closes
 * its connections with 1011 and is replaced; inline, the thread that would end is the whole
 * server. So the `wasmsocket serve` command, which owns its process, logs the error and keeps
 * serving, connections included: nothing tells which connection the error belongs to, and
 * closing them all would turn one bad timer into an outage.
 *
 * Only the command installs this: a program that embeds the server owns its process, and its
 * `uncaughtException` policy (and its own errors) stay its business. Node has no way to tell
 * an application's error from any other once it is uncaught (AsyncLocalStorage does not follow
 * a throw, domains are deprecated), so in the command every uncaught error is survived.
 *
 * What one thread cannot survive: an endless loop (nothing else runs on it; with workers the
 * heartbeat replaces the stuck worker), `process.exit()`, and running out of memory.
 */
import type { WasmSocketServer } from './server.js';

/** Keeps `server`'s process alive through uncaught errors; returns the function that stops that. */
export function surviveUncaughtErrors(server: WasmSocketServer): () => void {
  const survive = (caught: unknown): void => {
    server.noteUncaughtError(caught instanceof Error ? caught : new Error(`non-error thrown: ${String(caught)}`));
  };
  process.on('uncaughtException', survive);
  process.on('unhandledRejection', survive);
  return () => {
    process.off('uncaughtException', survive);
    process.off('unhandledRejection', survive);
  };
}
