/**
 * The server as its user sees it, on the main thread: it listens, accepts each TCP connection
 * without reading from it, and hands it to the thread that will own it — a worker of the pool,
 * or with `workers: 0` the ConnectionServer on this thread. Per-connection bytes never pass
 * through the main thread in worker mode. It also supervises the workers, runs the hooks given
 * to `listen()`, sums the node's state for /healthz, and joins other nodes through Redis.
 */
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import type { CodecKind } from '../codec/codec.js';
import { createCodec } from '../codec/select.js';
import type { Utf8ValidatorChoice } from '../protocol/protocol.js';
import { CloseCode } from '../protocol/close-codes.js';
import { loadApplication, type Application, type Connection } from '../apps/app.js';
import { WorkerPool } from '../pool/pool.js';
import type { SlowSubscriberPolicy } from '../pubsub/broker.js';
import { RedisBackplane } from '../pubsub/redis-backplane.js';
import { WorkerRelay } from '../pubsub/relay.js';
import { topicError } from '../pubsub/topics.js';
import { ConnectionServer, type ConnectionSettings, type NodeServices, type ThreadStats } from './connection-server.js';
import { runAuthorizeHook, type AuthorizeHook, type AuthorizeVerdict, type UpgradeRequest } from './upgrade-request.js';
import { createUnavailableAnswers } from './http-answers.js';
import { resolveDeflateOptions, type DeflateOptions } from '../extensions/deflate-options.js';

export type { AuthorizeVerdict as AuthorizeResult, UpgradeRequest };

export interface ServerOptions {
  host?: string;
  port?: number;
  /** `echo`, `pubsub`, a module path, or an application object (inline only). */
  app?: string | Application;
  codec?: CodecKind;
  /** Worker threads owning the connections; 0 serves them on the main thread. */
  workers?: number;
  /** UTF-8 of text messages: 'native' (isUtf8 or streaming, per segment) or the codec's own scan. */
  utf8Validator?: Utf8ValidatorChoice;
  maxPayload?: number;
  /**
   * permessage-deflate (RFC 7692): off by default; `true` for the defaults, or options
   * (validated here: a bad one throws a TypeError).
   */
  deflate?: boolean | DeflateOptions;
  subprotocols?: readonly string[];
  /** Allowed `Origin` values; empty or undefined allows any origin. */
  origins?: readonly string[];
  /** Runs at every handshake, on the main thread (in worker mode by a round trip from the worker). */
  authorize?: AuthorizeHook;
  /** Time from TCP accept to a finished handshake. */
  handshakeTimeoutMs?: number;
  /** Request header bytes above which the handshake gets 431. */
  maxHeaderBytes?: number;
  closeTimeoutMs?: number;
  highWaterMark?: number;
  /** `redis://host:port` of the Redis that joins several server nodes. */
  redis?: string;
  /** Socket queue above which a subscriber is slow: its deliveries are dropped, or it is closed. */
  slowSubscriberBytes?: number;
  slowPolicy?: SlowSubscriberPolicy;
  /** A worker that does not answer its heartbeat for this long is terminated and replaced. */
  workerHeartbeatTimeoutMs?: number;
  /** Reports application exceptions and other per-connection failures. */
  onError?: (error: Error) => void;
  /** Operational messages (backplane up/down, workers replaced); default console.error. */
  log?: (line: string) => void;
}

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  app: 'pubsub',
  codec: 'wasm' as CodecKind,
  workers: 0,
  utf8Validator: 'native' as Utf8ValidatorChoice,
  maxPayload: 16 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  maxHeaderBytes: 16 * 1024,
  closeTimeoutMs: 5_000,
  highWaterMark: 1024 * 1024,
  slowSubscriberBytes: 4 * 1024 * 1024,
  slowPolicy: 'drop' as SlowSubscriberPolicy,
  workerHeartbeatTimeoutMs: 5_000,
};

/** The node's counters: every thread's, summed. */
export interface ServerStats {
  connections: number;
  bufferedAmount: number;
  /** Per worker (empty inline); null for a worker that is down or did not answer. */
  workers: (ThreadStats | null)[];
  pubsub: { subscriptions: number } & ThreadStats['pubsub'];
  pool?: WorkerPool['stats'];
}

export class WasmSocketServer {
  readonly #net: NetServer;
  readonly #settings: ConnectionSettings;
  readonly #options: ServerOptions;
  readonly #log: (line: string) => void;
  /** Inline mode: this thread's connection server. */
  readonly #inline: ConnectionServer | undefined;
  readonly #pool: WorkerPool | undefined;
  readonly #relay: WorkerRelay | undefined;
  readonly #backplane: RedisBackplane | undefined;
  /** Answers 503 on this thread while no worker runs (made when first needed). */
  #unavailable: HttpServer | undefined;
  #nextId = 1;
  #closing = false;

  /** `app` runs inline; with workers, `appSpec` (its name or path) is loaded in every worker. */
  constructor(app: Application, options: ServerOptions, appSpec?: string) {
    this.#options = options;
    this.#log = options.log ?? ((line) => console.error(`wasmsocket: ${line}`));
    this.#settings = {
      codec: options.codec ?? DEFAULTS.codec,
      utf8Validator: options.utf8Validator ?? DEFAULTS.utf8Validator,
      maxPayload: options.maxPayload ?? DEFAULTS.maxPayload,
      subprotocols: options.subprotocols ?? [],
      deflate: resolveDeflateOptions(options.deflate),
      origins: options.origins ?? [],
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs,
      maxHeaderBytes: options.maxHeaderBytes ?? DEFAULTS.maxHeaderBytes,
      closeTimeoutMs: options.closeTimeoutMs ?? DEFAULTS.closeTimeoutMs,
      highWaterMark: options.highWaterMark ?? DEFAULTS.highWaterMark,
      slowSubscriberBytes: options.slowSubscriberBytes ?? DEFAULTS.slowSubscriberBytes,
      slowPolicy: options.slowPolicy ?? DEFAULTS.slowPolicy,
    };
    const workers = options.workers ?? DEFAULTS.workers;
    if (options.redis !== undefined) {
      this.#backplane = new RedisBackplane({
        url: options.redis, nodeId: randomUUID(), log: this.#log,
        onMessage: (topic, payload, isBinary) => {
          if (this.#relay !== undefined) this.#relay.fromBackplane(topic, payload, isBinary);
          else this.#inline!.broker.publishFromBackplane(topic, payload, isBinary);
        },
      });
    }
    const authorize = options.authorize;
    const runAuthorize = authorize === undefined ? undefined
      : (request: UpgradeRequest) => runAuthorizeHook(authorize, request, (error) => options.onError?.(error));
    if (workers > 0) {
      if (appSpec === undefined) throw new TypeError('with workers, the application must be given by name or path');
      const pool: WorkerPool = new WorkerPool({
        workers,
        heartbeatTimeoutMs: options.workerHeartbeatTimeoutMs ?? DEFAULTS.workerHeartbeatTimeoutMs,
        task: {
          app: appSpec, settings: this.#settings, authorize: runAuthorize !== undefined,
          relayPublishes: workers > 1 || this.#backplane !== undefined, relayPatterns: this.#backplane !== undefined,
        },
        hooks: {
          authorize: runAuthorize ?? (async () => true),
          health: () => this.health(),
          publish: (from, topic, payload, isBinary) => relay.fromWorker(from, topic, payload, isBinary),
          pattern: (from, pattern, added) => relay.pattern(from, pattern, added),
          workerLost: (slot) => relay.workerLost(slot),
          onError: (error) => options.onError?.(error),
          log: this.#log,
        },
      });
      const relay = new WorkerRelay((topic, payload, isBinary, except) => pool.publish(topic, payload, isBinary, except), this.#backplane);
      this.#pool = pool;
      this.#relay = relay;
    } else {
      const services: NodeServices = {
        authorize: runAuthorize,
        health: async () => this.health(),
        socketClosed: () => {},
        onError: (error) => options.onError?.(error),
      };
      this.#inline = new ConnectionServer(this.#settings, app, createCodec(this.#settings.codec), services, this.#backplane);
    }
    // pauseOnConnect: a socket can move to a worker only while nothing has been read from it.
    this.#net = createNetServer({ pauseOnConnect: true }, (socket) => this.#accept(socket));
  }

  get port(): number {
    return this.address().port;
  }

  address(): AddressInfo {
    return this.#net.address() as AddressInfo;
  }

  /** Sockets per worker, handed out and not closed yet (empty inline). */
  get workerLoads(): number[] {
    return this.#pool?.loads ?? [];
  }

  /** Publishes to every subscriber of `topic` on every worker and node, like `conn.publish()`. */
  publish(topic: string, data: string | Uint8Array, isBinary?: boolean): void {
    const error = topicError(topic, false);
    if (error !== undefined) throw new TypeError(`invalid topic "${topic}": ${error}`);
    const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const binary = typeof data === 'string' ? isBinary === true : isBinary !== false;
    if (this.#relay !== undefined) this.#relay.publish(topic, payload, binary);
    else this.#inline!.broker.publish(topic, payload, binary);
  }

  /** The node's counters, asked of every worker. */
  async stats(): Promise<ServerStats> {
    const threads = this.#inline !== undefined ? [this.#inline.stats()] : await this.#pool!.threadStats();
    const pubsub = { subscriptions: 0, published: 0, received: 0, deliveries: 0, dropped: 0, closedSlow: 0 };
    let connections = 0;
    let bufferedAmount = 0;
    for (const thread of threads) {
      if (thread === undefined) continue;
      connections += thread.connections;
      bufferedAmount += thread.bufferedAmount;
      pubsub.subscriptions += thread.subscriptions;
      for (const key of ['published', 'received', 'deliveries', 'dropped', 'closedSlow'] as const) pubsub[key] += thread.pubsub[key];
    }
    if (this.#relay !== undefined) {
      pubsub.published += this.#relay.stats.published;
      pubsub.received += this.#relay.stats.received;
    }
    return {
      connections, bufferedAmount, pubsub,
      workers: this.#pool === undefined ? [] : threads.map((thread) => thread ?? null),
      ...(this.#pool === undefined ? {} : { pool: { ...this.#pool.stats } }),
    };
  }

  /** The state reported by GET /healthz. */
  async health(): Promise<Record<string, unknown>> {
    const stats = await this.stats();
    return {
      status: 'ok',
      connections: stats.connections,
      workers: stats.workers.map((worker) => worker?.connections ?? null),
      ...(stats.pool === undefined ? {} : { pool: stats.pool }),
      pubsub: stats.pubsub,
      backplane: this.#backplane === undefined ? 'none' : { state: this.#backplane.state, ...this.#backplane.stats },
    };
  }

  /** Starts listening once the workers are ready to take sockets. */
  async listen(): Promise<void> {
    await this.#pool?.started;
    return new Promise((resolve, reject) => {
      this.#net.once('error', reject);
      this.#net.listen(this.#options.port ?? DEFAULTS.port, this.#options.host ?? DEFAULTS.host, () => {
        this.#net.off('error', reject);
        resolve();
      });
    });
  }

  /**
   * Stops accepting, closes every connection with `code` (1001 by default), waits for them to
   * finish (bounded by the close timeout, then drops what is left), stops the workers and
   * closes the listener.
   */
  async close(code: number = CloseCode.GOING_AWAY, reason = 'server shutting down'): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const listenerClosed = new Promise<void>((resolve) => this.#net.close(() => resolve()));
    const { closeTimeoutMs } = this.#settings;
    if (this.#inline !== undefined) await this.#inline.close(code, reason);
    // A worker gets the close timeout plus a margin to report back; a stuck one is not waited for.
    if (this.#pool !== undefined) {
      await this.#pool.shutdown(code, reason, closeTimeoutMs + 1000);
      await this.#pool.close();
    }
    await this.#backplane?.close();
    this.#unavailable?.closeAllConnections();
    await listenerClosed;
  }

  #accept(socket: Socket): void {
    const id = this.#nextId++;
    if (this.#inline !== undefined) {
      this.#inline.adopt(socket, id);
      return;
    }
    if (this.#pool!.hand(socket, id)) return;
    this.#unavailable ??= createUnavailableAnswers(() => this.health());
    this.#unavailable.emit('connection', socket);
    socket.resume();
  }
}

/** Creates a server, loads its application and starts listening. */
export async function listen(options: ServerOptions = {}): Promise<WasmSocketServer> {
  const appSpec = typeof options.app === 'object' ? undefined : options.app ?? DEFAULTS.app;
  // Loaded here even with workers, so a bad path fails at start with a clear message.
  const app = typeof options.app === 'object' ? options.app : await loadApplication(appSpec!);
  const server = new WasmSocketServer(app, options, appSpec);
  try {
    await server.listen();
  } catch (error) {
    await server.close(); // stops the worker pool, which would keep the process alive
    throw error;
  }
  return server;
}

export type { Connection, Application };
