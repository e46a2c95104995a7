/**
 * The main thread's part of pub/sub in worker mode. Each worker's broker delivers to its own
 * subscribers; the relay carries every publish on to the other workers (each matches it against
 * its own subscriptions) and to the other nodes, and brings the other nodes' publishes to every
 * worker. It also keeps the node's union of the workers' patterns, which is what this node
 * subscribes to in Redis.
 *
 * Why every worker gets every publish instead of only those with a matching pattern: a worker
 * registers a subscription before it acknowledges it, so a publish sent after the acknowledgement
 * always finds it; pattern filtering here would race with the pattern's way to the main thread.
 */
import type { Backplane, BrokerStats } from './broker.js';

/** Sends a publish to every live worker but `except`. */
export type DeliverToWorkers = (topic: string, payload: Uint8Array, isBinary: boolean, except?: number) => void;

export class WorkerRelay {
  /** Publishes that entered the node here: `server.publish()` (published) and other nodes (received). */
  readonly stats: Pick<BrokerStats, 'published' | 'received'> = { published: 0, received: 0 };
  readonly #deliver: DeliverToWorkers;
  readonly #backplane: Backplane | undefined;
  /** Pattern → the workers subscribed to it. */
  readonly #patterns = new Map<string, Set<number>>();

  constructor(deliver: DeliverToWorkers, backplane?: Backplane) {
    this.#deliver = deliver;
    this.#backplane = backplane;
  }

  /** A publish from a connection of worker `from` (already delivered there). */
  fromWorker(from: number, topic: string, payload: Uint8Array, isBinary: boolean): void {
    this.#deliver(topic, payload, isBinary, from);
    this.#backplane?.publish(topic, payload, isBinary);
  }

  /** `server.publish()`: every worker and every other node. */
  publish(topic: string, payload: Uint8Array, isBinary: boolean): void {
    this.stats.published++;
    this.#deliver(topic, payload, isBinary);
    this.#backplane?.publish(topic, payload, isBinary);
  }

  /** A publish from another node. */
  fromBackplane(topic: string, payload: Uint8Array, isBinary: boolean): void {
    this.stats.received++;
    this.#deliver(topic, payload, isBinary);
  }

  pattern(worker: number, pattern: string, added: boolean): void {
    let workers = this.#patterns.get(pattern);
    if (added) {
      if (workers === undefined) {
        workers = new Set();
        this.#patterns.set(pattern, workers);
        this.#backplane?.addPattern(pattern);
      }
      workers.add(worker);
    } else if (workers !== undefined && workers.delete(worker) && workers.size === 0) {
      this.#patterns.delete(pattern);
      this.#backplane?.removePattern(pattern);
    }
  }

  /** A worker died: its subscriptions went with it. */
  workerLost(worker: number): void {
    for (const [pattern, workers] of this.#patterns) {
      if (workers.has(worker)) this.pattern(worker, pattern, false);
    }
  }
}
