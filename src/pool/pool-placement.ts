/**
 * Worker mode: each accepted socket moves to the least-loaded worker of the pool, which owns it
 * for its life. The main thread's relay carries publishes between the workers and to and from
 * other nodes. A socket someone else's HTTP server has read from cannot move: handleUpgrade()
 * serves it on this thread, with a connection server made when first needed and joined to the
 * workers' pub/sub through the relay.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { createCodec } from '../codec/select.js';
import type { Application } from '../apps/app.js';
import type { Backplane } from '../pubsub/broker.js';
import { WorkerRelay, type NodeHistory } from '../pubsub/relay.js';
import type { HistoryQuery, HistoryReply, StreamPosition } from '../pubsub/history.js';
import { ConnectionServer, type ConnectionSettings, type NodeServices } from '../server/connection-server.js';
import type { TlsCertificate } from '../server/certificate.js';
import type { Placement, PlacementStats } from '../server/placement.js';
import { WorkerPool } from './pool.js';
import type { LogSink } from '../logging/logger.js';

export interface PoolPlacementOptions {
  workers: number;
  heartbeatTimeoutMs: number;
  /** The application's name or path, which every worker loads. */
  appSpec: string;
  /** The same application loaded on this thread, for handleUpgrade(). */
  app: Application;
  settings: ConnectionSettings;
  /** What a connection server asks of the node (this thread's, and through the pool each worker's). */
  services: NodeServices;
  /** Worker failures and application errors reported by workers. */
  onError(error: Error): void;
  log: LogSink;
  backplane: Backplane | undefined;
  /** Where the node's offsets and history come from, when it keeps history. */
  history: NodeHistory | undefined;
  /** Metrics are served: each worker samples its event-loop delay. */
  watchEventLoop: boolean;
}

/**
 * A worker's young generation, MiB. During an accept storm most of what a handshake allocates
 * survives a scavenge or two, so V8 grows each thread's new space to its 16 MiB maximum, and
 * keeps it once the connections sit idle: with 10 000 held, 3 KiB of RSS per connection inline
 * (7.8 against 4.7 KiB with the cap). Echo rates are the same capped (README, "Memory"). The CLI gives the main thread the same cap (`--max-semi-space-size=1`, its `#!`
 * line and `npm start`); a program calling listen() chooses its own flags.
 */
const WORKER_YOUNG_GENERATION_MB = 3;

/** The connection server on the main thread, as the relay names it among the workers. */
const THIS_THREAD = -1;
/** No thread: `server.publishMessage()` and `server.presence()`, which every thread is to see. */
const NO_THREAD = -2;

export class PoolPlacement implements Placement {
  readonly #options: PoolPlacementOptions;
  readonly #pool: WorkerPool;
  readonly #relay: WorkerRelay;
  /** Made by the first handleUpgrade(). */
  #local: ConnectionServer | undefined;

  constructor(options: PoolPlacementOptions) {
    this.#options = options;
    const { workers, backplane, services, history } = options;
    this.#relay = new WorkerRelay((topic, payload, isBinary, except, offset) => {
      this.#pool.publish(topic, payload, isBinary, except, offset);
      if (except !== THIS_THREAD) this.#local?.broker.deliver(topic, payload, isBinary, offset);
    }, backplane, history, async (topic, except) => {
      const local = except === THIS_THREAD ? 0 : this.#local?.broker.exactSubscribers(topic) ?? 0;
      return local + await this.#pool.subscriberCount(topic, except);
    });
    const relay = this.#relay;
    this.#pool = new WorkerPool({
      workers,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs,
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
      task: {
        app: options.appSpec, settings: options.settings, authorize: services.authorize !== undefined,
        relayPublishes: workers > 1 || backplane !== undefined, relayPatterns: backplane !== undefined,
        watchEventLoop: options.watchEventLoop,
        history: history !== undefined,
      },
      hooks: {
        authorize: services.authorize ?? (async () => true),
        health: services.health,
        publish: (from, topic, payload, isBinary) => relay.fromWorker(from, topic, payload, isBinary),
        pattern: (from, pattern, added) => relay.pattern(from, pattern, added),
        sequence: (from, topic, message, done) => relay.sequence(from, topic, message, done),
        history: (topic, query, done) => relay.read(topic, query, done),
        presence: (from, topic, local, done) => relay.presence(from, topic, local, done),
        workerLost: (slot) => relay.workerLost(slot),
        socketClosed: services.socketClosed,
        onError: options.onError,
        log: options.log,
      },
    });
  }

  get started(): Promise<void> {
    return this.#pool.started;
  }

  get loads(): number[] {
    return this.#pool.loads;
  }

  adopt(socket: Socket, id: number): boolean {
    return this.#pool.hand(socket, id);
  }

  handleUpgrade(request: IncomingMessage, socket: Socket, head: Buffer, id: number): void {
    this.#local ??= this.#createLocal();
    this.#local.handleUpgrade(request, socket, head, id);
  }

  publish(topic: string, payload: Uint8Array, isBinary: boolean): void {
    this.#relay.publish(topic, payload, isBinary);
  }

  fromBackplane(topic: string, payload: Uint8Array, isBinary: boolean, offset?: number): void {
    this.#relay.fromBackplane(topic, payload, isBinary, offset);
  }

  publishMessage(topic: string, message: Uint8Array): Promise<StreamPosition | undefined> {
    this.#relay.stats.published++;
    return new Promise((resolve) => this.#relay.sequence(NO_THREAD, topic, message, (sequenced) => resolve(sequenced.position)));
  }

  history(topic: string, query: HistoryQuery): Promise<HistoryReply | undefined> {
    return new Promise((resolve) => this.#relay.read(topic, query, resolve));
  }

  presence(topic: string, otherNodes: boolean): Promise<number> {
    return new Promise((resolve) => this.#relay.presence(NO_THREAD, topic, 0, resolve, otherNodes));
  }

  setCertificate(certificate: TlsCertificate): void {
    this.#local?.setCertificate(certificate);
    this.#pool.setCertificate(certificate);
  }

  async stats(): Promise<PlacementStats> {
    return {
      local: this.#local?.stats(),
      workers: await this.#pool.threadStats(),
      relayed: { ...this.#relay.stats },
      pool: { ...this.#pool.stats },
    };
  }

  async close(code: number, reason: string, timeoutMs: number): Promise<void> {
    if (this.#local !== undefined) await this.#local.close(code, reason, timeoutMs);
    // A worker gets the close timeout plus a margin to report back; a stuck one is not waited for.
    await this.#pool.shutdown(code, reason, timeoutMs + 1000);
    await this.#pool.close();
  }

  /** This thread's connection server, its pub/sub joined to the workers' and other nodes' through the relay. */
  #createLocal(): ConnectionServer {
    const relay = this.#relay;
    const { settings, app, services } = this.#options;
    const local = new ConnectionServer(settings, app, createCodec(settings.codec), services, {
      addPattern: (pattern) => relay.pattern(THIS_THREAD, pattern, true),
      removePattern: (pattern) => relay.pattern(THIS_THREAD, pattern, false),
      publish: (topic, payload, isBinary) => relay.fromWorker(THIS_THREAD, topic, payload, isBinary),
    });
    if (this.#options.history !== undefined) {
      local.broker.attachHistory({
        sequence: (topic, message, done) => relay.sequence(THIS_THREAD, topic, message, done),
        read: (topic, query, done) => relay.read(topic, query, done),
        presence: (topic, count, done) => relay.presence(THIS_THREAD, topic, count, done),
      });
    }
    // A single worker kept its publishes to itself; now this thread has subscribers too.
    this.#pool.relayPublishes();
    return local;
  }
}
