/**
 * uWebSockets.js from the `@trufflesuite/uws-js-unofficial` build (v20.30, binaries for Node ABI
 * 93/108/115, so Node 20 included). Its `src/uws.js` silently falls back to a pure-Node
 * implementation when the binary does not load; we require the binary itself so that a failure
 * is an error (reported by the harness as "error: …"), never a slow impostor.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

export type Uws = typeof import('@trufflesuite/uws-js-unofficial');

export function loadUws(): Uws {
  const packageDir = dirname(require.resolve('@trufflesuite/uws-js-unofficial/package.json'));
  const binary = join(packageDir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
  return require(binary) as Uws;
}

/** Settings shared by the echo and pub/sub apps; backpressure like wasmsocket's slow-subscriber bound. */
export const UWS_LIMITS = {
  maxPayloadLength: 16 * 1024 * 1024,
  /** Per socket; over it uWS skips that subscriber for publishes (wasmsocket: 4 MiB, then drop). */
  maxBackpressure: 4 * 1024 * 1024,
  /** No idle timeout: the memory scenario holds idle connections. */
  idleTimeout: 0,
  sendPingsAutomatically: false,
} as const;
