/**
 * What the main thread and a worker say to each other, one discriminated union per direction,
 * and the channel that carries them: every message queued in one event-loop turn leaves in one
 * postMessage. No per-connection byte travels here: a worker owns its sockets. What does travel
 * is the control plane (sockets handed over, handshake hooks, health, heartbeats, shutdown) and
 * the pub/sub traffic between workers.
 */
import type { MovedSocket } from './moved-socket.js';
import type { MessagePort, Transferable } from 'node:worker_threads';
import type { AuthorizeVerdict, UpgradeRequest } from '../server/upgrade-request.js';
import type { ThreadStats, TlsCertificate } from '../server/connection-server.js';
import type { HistoryQuery, HistoryReply, Sequenced } from '../pubsub/history.js';

/** Main thread → worker. */
export type ToWorker =
  /** An accepted socket, not read from yet; the worker now owns it. `id` is its connection id. */
  | { type: 'socket'; id: number; socket: MovedSocket }
  /** A publish from another worker, from `server.publish()` or from another node: deliver here. */
  | { type: 'publish'; topic: string; payload: Uint8Array; isBinary: boolean; offset?: number }
  /** This worker's history publish `ticket` has its offset: deliver it here now. */
  | { type: 'sequenced'; ticket: number; sequenced: Sequenced }
  /** The answer to a `history` request (undefined: history unreachable). */
  | { type: 'history'; request: number; reply: HistoryReply | undefined }
  /** The answer to a `presence` request: subscriptions over the node and the other nodes. */
  | { type: 'presence'; request: number; count: number }
  /** Asks for this worker's subscriptions to exactly `topic`. */
  | { type: 'count-subscribers'; request: number; topic: string }
  /** The answer to an `authorize` request. */
  | { type: 'verdict'; request: number; verdict: AuthorizeVerdict }
  /** The answer to a `health` request: the whole node's state. */
  | { type: 'health'; request: number; health: Record<string, unknown> }
  /** Asks for this worker's counters. */
  | { type: 'stats'; request: number }
  /** The heartbeat: a worker that does not answer in time is replaced. */
  | { type: 'ping'; seq: number }
  /** New connections use this TLS certificate from now on. */
  | { type: 'certificate'; certificate: TlsCertificate }
  /** From now on this worker's publishes must leave it (connections appeared on the main thread). */
  | { type: 'relay-publishes' }
  /** Close every connection with `code`, then answer `shutdown-done`. */
  | { type: 'shutdown'; code: number; reason: string };

/** Worker → main thread. */
export type ToMain =
  /** The worker's application is loaded and it takes sockets. */
  | { type: 'ready'; threadId: number }
  /** A socket handed to this worker is closed (admission counts). */
  | { type: 'closed'; id: number }
  /** A publish from one of this worker's connections, for the other workers and nodes. */
  | { type: 'publish'; topic: string; payload: Uint8Array; isBinary: boolean }
  /** A history publish from one of this worker's connections: `sequenced` answers `ticket`. */
  | { type: 'sequence'; ticket: number; topic: string; message: Uint8Array }
  /** Reads a topic's history (and position) for a subscribe or a `history` request. */
  | { type: 'history'; request: number; topic: string; query: HistoryQuery }
  /** Counts the subscriptions to exactly `topic` over the node (`local`: this worker's). */
  | { type: 'presence'; request: number; topic: string; local: number }
  /** The answer to `count-subscribers`. */
  | { type: 'subscriber-count'; request: number; count: number }
  /** This worker's first subscriber to `pattern` came (added) or its last one left. */
  | { type: 'pattern'; pattern: string; added: boolean }
  /** Runs the server's `authorize` hook, which lives on the main thread, for one handshake. */
  | { type: 'authorize'; request: number; upgrade: UpgradeRequest }
  /** GET /healthz reached this worker: asks for the whole node's state. */
  | { type: 'health'; request: number }
  | { type: 'stats'; request: number; stats: ThreadStats }
  | { type: 'pong'; seq: number }
  /** An application handler threw (its connection closed with 1011). */
  | { type: 'error'; connection: number; stack: string }
  | { type: 'log'; line: string }
  /** An uncaught error: the worker closes its connections with 1011, then ends; take it no sockets. */
  | { type: 'failing'; stack: string }
  /** This worker's external memory passed its cap: replace it (like a heap out-of-memory). */
  | { type: 'memory-limit'; external: number; limit: number }
  | { type: 'shutdown-done' };

/**
 * One direction of a MessagePort. Messages queued during a turn are posted together once the
 * turn's I/O callbacks have run (setImmediate), so a storm of accepts or publishes costs one
 * postMessage per turn, not one per message.
 */
export class PortChannel<Out, In> {
  readonly #port: MessagePort;
  #queue: Out[] = [];
  #transfer: Transferable[] = [];
  #scheduled = false;

  constructor(port: MessagePort, receive: (message: In) => void) {
    this.#port = port;
    port.on('message', (batch: In[]) => {
      for (const message of batch) receive(message);
    });
  }

  send(message: Out, transfer?: readonly unknown[]): void {
    this.#queue.push(message);
    if (transfer !== undefined) for (const item of transfer) this.#transfer.push(item as Transferable);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Posts what is queued now (also called before the port closes). */
  flush(): void {
    this.#scheduled = false;
    if (this.#queue.length === 0) return;
    const batch = this.#queue;
    const transfer = this.#transfer;
    this.#queue = [];
    this.#transfer = [];
    this.#port.postMessage(batch, transfer);
  }

  close(): void {
    this.flush();
    this.#port.close();
  }
}

/** Requests answered by the other thread: an id out, a promise of the answer back. */
export class PendingRequests<T> {
  #next = 1;
  readonly #waiting = new Map<number, (answer: T | undefined) => void>();

  /** A new request id and its answer; `undefined` when `timeoutMs` passes first or on cancelAll(). */
  create(timeoutMs: number): { id: number; answer: Promise<T | undefined> } {
    const id = this.#next++;
    const answer = new Promise<T | undefined>((resolve) => {
      const timer = setTimeout(() => this.settle(id, undefined), timeoutMs);
      timer.unref();
      this.#waiting.set(id, (value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });
    return { id, answer };
  }

  settle(id: number, answer: T | undefined): void {
    const resolve = this.#waiting.get(id);
    if (resolve === undefined) return;
    this.#waiting.delete(id);
    resolve(answer);
  }

  /** The other thread is gone: every open request is answered with undefined. */
  cancelAll(): void {
    for (const id of [...this.#waiting.keys()]) this.settle(id, undefined);
  }
}
