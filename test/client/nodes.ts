/**
 * Server nodes for the client tests: `wasmsocket serve --app pubsub` as a child process on a port
 * the test chooses (so that a node killed with SIGKILL can be started again on the same port), and
 * the signals a test sends it.
 */
import type { ExecutionContext } from 'ava';
import { freePort } from '../helpers/launched-server.js';
import { cli, startServerProcess, type ServerProcess } from '../robustness/server-process.js';

export interface ServerNode {
  readonly port: number;
  readonly url: string;
  /** The process now serving the port. */
  readonly process: ServerProcess;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same arguments. */
  restart(): Promise<void>;
}

/** Starts a pubsub node; `args` are more `serve` flags (`--redis URL`, history flags…). */
export async function startNode(t: ExecutionContext, args: string[] = [], port?: number): Promise<ServerNode> {
  const chosen = port ?? await freePort();
  const argv = [cli, 'serve', '--host', '127.0.0.1', '--port', String(chosen), '--app', 'pubsub', '--workers', '0', ...args];
  let current = await startServerProcess(t, argv);
  return {
    port: chosen,
    url: `ws://127.0.0.1:${chosen}/`,
    get process() { return current; },
    async kill() {
      current.child.kill('SIGKILL');
      await current.exited;
    },
    async restart() {
      // The port was just freed; another test may take it meanwhile: the only retry is the caller's.
      current = await startServerProcess(t, argv);
    },
  };
}
