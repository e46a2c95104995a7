/**
 * The recovery scenarios shared by the Node and the Chromium client tests: two or three pubsub
 * nodes on one real Redis keeping history, a publisher (a `wasmsocket/client` in Node) publishing
 * 1, 2, 3… to one topic, acknowledged one after another, while the test kills, restarts or stops
 * the node its subscriber is on. The subscriber is whatever the test drives (a Node client, a
 * page), seen through `SubscriberView`.
 */
import type { ExecutionContext } from 'ava';
import { connect, type Client } from '../../src/client/client.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { startNode, type ServerNode } from './nodes.js';

export const TOPIC = 'stream.t';
/** Bound for every wait: generous, a loaded machine must not fail the test. */
export const WAIT_MS = 30_000;

export interface SubscriberView {
  received(): Promise<unknown[]>;
  reconnects(): Promise<number>;
  /** The reasons of every `unrecovered` so far. */
  unrecovered(): Promise<string[]>;
}

/** A Redis and `count` nodes on it with history (`historySize` messages per topic), inline or with workers. */
export async function startCluster(t: ExecutionContext, count: number, historySize = 100_000, workers = 0): Promise<ServerNode[]> {
  const redis = await startRedisServer();
  t.teardown(() => redis.stop());
  const nodes: ServerNode[] = [];
  for (let i = 0; i < count; i++) nodes.push(await startNode(t, ['--redis', redis.url, '--history-size', String(historySize), '--workers', String(workers)]));
  return nodes;
}

/** Publishes 1, 2, 3… to TOPIC through `url`, each after the previous one's ack, until stopped. */
export class Publisher {
  readonly #client: Client;
  #published = 0;
  #stopped = false;
  #done: Promise<void> = Promise.resolve();

  constructor(t: ExecutionContext, url: string) {
    this.#client = connect(url, { minReconnectDelayMs: 20, maxReconnectDelayMs: 200 });
    t.teardown(() => this.#client.close());
  }

  /** Publishes on and on until `stop()`. */
  start(): void {
    this.#done = this.#run();
  }

  get published(): number { return this.#published; }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      await this.#client.publish(TOPIC, this.#published + 1);
      this.#published++;
      // Paced, so that the stream is still flowing while a node goes down and comes back.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Publishes exactly `count` more, then resolves with the total. */
  async publish(count: number): Promise<number> {
    for (let i = 0; i < count; i++) {
      await this.#client.publish(TOPIC, this.#published + 1);
      this.#published++;
    }
    return this.#published;
  }

  /** Stops after the publish in progress; resolves with how many were acknowledged. */
  async stop(): Promise<number> {
    this.#stopped = true;
    await this.#done;
    return this.#published;
  }
}

export const sequence = (count: number) => Array.from({ length: count }, (_, i) => i + 1);

export async function waitForCount(view: SubscriberView, count: number): Promise<void> {
  await waitFor(async () => (await view.received()).length >= count, WAIT_MS, 50);
}

/**
 * Streaming to `view`'s subscriber on node `victim`: it is killed with SIGKILL once the subscriber
 * has 30 messages, then `afterKill` runs (restart it, or nothing: the subscriber fails over);
 * the stream goes on until the subscriber has reconnected and received 30 more. Returns how many
 * were published (every one acknowledged).
 */
export async function streamThroughKill(t: ExecutionContext, publisherUrl: string, view: SubscriberView, victim: ServerNode, afterKill: () => Promise<void>): Promise<number> {
  const publisher = new Publisher(t, publisherUrl);
  publisher.start();
  await waitForCount(view, 30);
  await victim.kill();
  await afterKill();
  await waitFor(async () => (await view.reconnects()) >= 1, WAIT_MS, 50);
  const atReconnect = publisher.published;
  await waitForCount(view, atReconnect + 30);
  return publisher.stop();
}
