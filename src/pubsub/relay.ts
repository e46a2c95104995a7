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
import type { HistoryQuery, HistoryReply, HistorySource, Sequenced } from './history.js';

/** Sends a publish to every live worker but `except`; `offset` when it has one. */
export type DeliverToWorkers = (topic: string, payload: Uint8Array, isBinary: boolean, except?: number, offset?: number) => void;

/** Where the node's offsets are assigned and its history kept: memory (one node) or Redis. */
export type NodeHistory = Pick<HistorySource, 'sequence' | 'read'> & {
  /** Subscriptions to exactly `topic` on the other nodes (0 without any). */
  otherNodes?(topic: string): Promise<number>;
};

/** Subscriptions to exactly `topic` on the node's threads but `except`. */
export type CountSubscribers = (topic: string, except: number) => Promise<number>;

export class WorkerRelay {
  /** Publishes that entered the node here: `server.publish()` (published) and other nodes (received). */
  readonly stats: Pick<BrokerStats, 'published' | 'received'> = { published: 0, received: 0 };
  readonly #deliver: DeliverToWorkers;
  readonly #backplane: Backplane | undefined;
  /** Pattern → the workers subscribed to it. */
  readonly #patterns = new Map<string, Set<number>>();

  readonly #history: NodeHistory | undefined;
  readonly #count: CountSubscribers | undefined;

  constructor(deliver: DeliverToWorkers, backplane?: Backplane, history?: NodeHistory, count?: CountSubscribers) {
    this.#deliver = deliver;
    this.#backplane = backplane;
    this.#history = history;
    this.#count = count;
  }

  /**
   * A history publish from worker `from` (or `server.publishMessage()`, from none): it gets the
   * node's next offset here, every other worker gets it with that offset, and `done` gives the
   * origin its delivery. The order the workers see is the order of the offsets.
   */
  sequence(from: number, topic: string, message: Uint8Array, done: (sequenced: Sequenced) => void): void {
    const history = this.#history;
    if (history === undefined) {
      this.fromWorker(from, topic, message, false);
      done({ payload: message });
      return;
    }
    history.sequence(topic, message, (sequenced) => {
      if (sequenced.skipLocal !== true) this.#deliver(topic, sequenced.payload, false, from, sequenced.position?.offset);
      done(sequenced);
    });
  }

  read(topic: string, query: HistoryQuery, done: (reply: HistoryReply | undefined) => void): void {
    if (this.#history === undefined) done(undefined);
    else this.#history.read(topic, query, done);
  }

  /**
   * Subscriptions to exactly `topic` over the node and (unless `otherNodes` is false: another
   * node is asking) the other nodes; `local` is `from`'s count.
   */
  presence(from: number, topic: string, local: number, done: (count: number) => void, otherNodes = true): void {
    const others = this.#count?.(topic, from) ?? Promise.resolve(0);
    const nodes = (otherNodes ? this.#history?.otherNodes?.(topic) : undefined) ?? Promise.resolve(0);
    void Promise.all([others, nodes]).then(([threads, remote]) => done(local + threads + remote), () => done(local));
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
  fromBackplane(topic: string, payload: Uint8Array, isBinary: boolean, offset?: number): void {
    this.stats.received++;
    this.#deliver(topic, payload, isBinary, undefined, offset);
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
