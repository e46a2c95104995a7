/**
 * The server as its user sees it, on the main thread: it listens, accepts each TCP connection
 * without reading from it, and hands it to the thread that will own it — a worker of the pool,
 * or with `workers: 0` the ConnectionServer on this thread. Per-connection bytes never pass
 * through the main thread in worker mode. It also supervises the workers, runs the hooks given
 * to `listen()`, sums the node's state for /healthz, and joins other nodes through Redis.
 */
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { createSecureContext } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import type { CodecKind } from '../codec/codec.js';
import { createCodec } from '../codec/select.js';
import type { Utf8ValidatorChoice } from '../protocol/protocol.js';
import { CloseCode } from '../protocol/close-codes.js';
import { loadApplication, type Application, type Connection } from '../apps/app.js';
import { ErrorLog } from '../apps/error-log.js';
import { WorkerPool } from '../pool/pool.js';
import { BROKER_COUNTERS, emptyBrokerStats, type Backplane, type SlowSubscriberPolicy } from '../pubsub/broker.js';
import { DEFAULT_PUBLIC_TOPICS, publicTopicError } from '../pubsub/permissions.js';
import { rejectionResponse } from '../handshake/handshake.js';
import { HandshakeError } from '../protocol/errors.js';
import { RedisBackplane } from '../pubsub/redis-backplane.js';
import { WorkerRelay, type NodeHistory } from '../pubsub/relay.js';
import { LocalHistory, MemoryHistory, type HistoryQuery, type HistoryReply, type HistorySource, type StreamPosition } from '../pubsub/history.js';
import { messageEnvelope } from '../apps/app-connection.js';
import { topicError } from '../pubsub/topics.js';
import { ConnectionServer, type ConnectionSettings, type NodeServices, type ThreadStats, type TlsCertificate } from './connection-server.js';
import { runAuthorizeHook, type AuthorizeHook, type AuthorizeVerdict, type UpgradeRequest } from './upgrade-request.js';
import { MainThreadAnswers, type MainThreadRefusal } from './http-answers.js';
import { Admission } from './admission.js';
import { FdReserve } from './fd-reserve.js';
import { resolveDeflateOptions, type DeflateOptions } from '../extensions/deflate-options.js';
import { idleCollectionStats, type IdleCollectionStats } from './idle-collector.js';
import { threadMemory, type ThreadMemory } from './thread-memory.js';

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
  /** A connection's send queue above which it is no longer read from (its hard cap: this + maxPayload). */
  highWaterMark?: number;
  /**
   * The send queues of one thread's connections together (each worker's, or the main thread's
   * inline; a broadcast frame counted once). Broadcasts are shed by `slowPolicy` before it; past
   * it the largest queues are dropped without a close frame (the client sees 1006); 0: no limit.
   */
  maxBufferedBytes?: number;
  /**
   * With deflate: inflated output one thread (each worker, or inline the server) holds at once
   * for compressed messages too large to inflate on the spot (over 256 KiB inflated). A message
   * that does not fit waits, its connection unread, until earlier ones are handed to the
   * application; one larger than the whole budget goes when nothing else is held.
   */
  maxInflateBytes?: number;
  /** `redis://host:port` of the Redis that joins several server nodes. */
  redis?: string;
  /** How often each Redis connection is PINGed and this node's heartbeat published (ms). */
  redisPingIntervalMs?: number;
  /** A Redis PING unanswered this long: the backplane is `stalled` (ms). */
  redisPingTimeoutMs?: number;
  /** Socket queue above which a subscriber is slow: its deliveries are dropped, or it is closed. */
  slowSubscriberBytes?: number;
  slowPolicy?: SlowSubscriberPolicy;
  /** Subscriptions one connection may hold; more are refused (`too_many_subscriptions`). */
  maxSubscriptions?: number;
  /** Subscriptions all connections of one thread (a worker, or inline the server) may hold. */
  maxTotalSubscriptions?: number;
  /**
   * Subscriptions the connections from one remote address may hold together on one thread;
   * more are refused (`too_many_subscriptions`). Per thread like maxTotalSubscriptions, whose
   * share it bounds; 0: no limit.
   */
  maxSubscriptionsPerIp?: number;
  /**
   * Topic prefixes any client may publish and subscribe to when the application has no
   * canPublish/canSubscribe hook: `news` is `news` and `news.…`, `*` any one segment; a pattern
   * must name its prefix segments. `['*']` (default): every topic, no pattern starting with a
   * wildcard; `['>']`: everything.
   */
  topicsPublic?: readonly string[];
  /**
   * Publishes kept per topic for recovery and the `history` request (pub/sub JSON messages);
   * 0: no history, no offsets. Every topic keeps its own.
   */
  historySize?: number;
  /** A topic's history is dropped this long after its last publish (ms); its epoch changes then. */
  historyTtlMs?: number;
  /**
   * Memory all topics' histories may take on this node (bytes, each message's bytes plus 64);
   * past it, the topics published least recently lose their messages first.
   */
  maxHistoryBytes?: number;
  /** A worker that does not answer its heartbeat for this long is terminated and replaced. */
  workerHeartbeatTimeoutMs?: number;
  /**
   * Bytes of memory outside its JS heap (Buffers, ArrayBuffers: `external` in /healthz) past
   * which a worker is terminated and replaced, like a worker out of heap; its connections drop
   * with it. Counted as `pool.overMemory`. 0 (default): no cap. Worker mode only.
   */
  maxWorkerExternalMemory?: number;
  /** Only requests for this path are upgraded (others get 404); any path when unset. */
  path?: string;
  /** Serve wss:// with this certificate chain and private key (PEM); see setCertificate(). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** A connection silent (no bytes at all) this long gets a ping; 0 turns the heartbeat off. */
  pingIntervalMs?: number;
  /** After that ping, how long to wait for any bytes before closing with 1001 and dropping TCP. */
  pingTimeoutMs?: number;
  /** A connection with no data message for this long is closed with 1001; 0 (default): never. */
  idleTimeoutMs?: number;
  /**
   * After this many connections opened or closed on a thread, it collects garbage (one full,
   * compacting collection) at its next quiet second: what an accept storm left goes back to the
   * OS. 0 turns it off.
   */
  idleCollectAfter?: number;
  /** Open TCP connections of the node past which new ones get 503 (0: no limit). */
  maxConnections?: number;
  /** Open TCP connections from one address past which new ones get 429 (0: no limit). */
  maxConnectionsPerIp?: number;
  /** No listener of our own: upgrades come through handleUpgrade() from another HTTP server. */
  noServer?: boolean;
  /** Reports application exceptions and other per-connection failures; logged when unset. */
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
  maxBufferedBytes: 512 * 1024 * 1024,
  maxInflateBytes: 64 * 1024 * 1024,
  slowSubscriberBytes: 4 * 1024 * 1024,
  slowPolicy: 'drop' as SlowSubscriberPolicy,
  maxSubscriptions: 1000,
  maxTotalSubscriptions: 100_000,
  maxSubscriptionsPerIp: 10_000,
  topicsPublic: DEFAULT_PUBLIC_TOPICS,
  historySize: 100,
  historyTtlMs: 300_000,
  maxHistoryBytes: 64 * 1024 * 1024,
  workerHeartbeatTimeoutMs: 5_000,
  maxWorkerExternalMemory: 0,
  pingIntervalMs: 30_000,
  pingTimeoutMs: 10_000,
  idleTimeoutMs: 0,
  idleCollectAfter: 1000,
  maxConnections: 0,
  maxConnectionsPerIp: 0,
};

/** Options that are whole numbers, with their smallest allowed value. */
const INTEGER_OPTIONS = {
  port: 0, workers: 0, maxPayload: 1, handshakeTimeoutMs: 1, maxHeaderBytes: 1, closeTimeoutMs: 1,
  highWaterMark: 1, maxBufferedBytes: 0, maxInflateBytes: 1, slowSubscriberBytes: 1, workerHeartbeatTimeoutMs: 1,
  pingIntervalMs: 0, pingTimeoutMs: 1, idleTimeoutMs: 0, idleCollectAfter: 0, maxConnections: 0, maxConnectionsPerIp: 0,
  redisPingIntervalMs: 1, redisPingTimeoutMs: 1, maxSubscriptions: 1, maxTotalSubscriptions: 1,
  maxSubscriptionsPerIp: 0, maxWorkerExternalMemory: 0, historySize: 0, historyTtlMs: 1, maxHistoryBytes: 0,
} as const;
const OTHER_OPTIONS = new Set(['host', 'app', 'codec', 'utf8Validator', 'subprotocols', 'origins', 'authorize', 'tls', 'deflate',
  'redis', 'slowPolicy', 'path', 'noServer', 'onError', 'log', 'topicsPublic']);

/** Checks options up front: an unknown name (a typo, another library's option) or a bad value is a TypeError. */
function validateOptions(options: ServerOptions): void {
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (name in INTEGER_OPTIONS) {
      const min = INTEGER_OPTIONS[name as keyof typeof INTEGER_OPTIONS];
      if (!Number.isSafeInteger(value) || (value as number) < min || (name === 'port' && (value as number) > 65535)) {
        throw new TypeError(`option ${name} must be a whole number ≥ ${min}${name === 'port' ? ' and ≤ 65535' : ''}, got ${String(value)}`);
      }
    } else if (!OTHER_OPTIONS.has(name)) {
      throw new TypeError(`unknown option "${name}"`);
    }
  }
  for (const name of ['authorize', 'onError', 'log'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') throw new TypeError(`option ${name} must be a function`);
  }
  if (options.path !== undefined && (typeof options.path !== 'string' || !options.path.startsWith('/'))) {
    throw new TypeError(`option path must be a string starting with "/", got ${String(options.path)}`);
  }
  if (options.topicsPublic !== undefined) {
    if (!Array.isArray(options.topicsPublic)) throw new TypeError('option topicsPublic must be an array of topic prefixes');
    for (const prefix of options.topicsPublic) {
      const error = publicTopicError(prefix);
      if (error !== undefined) throw new TypeError(`option topicsPublic: ${JSON.stringify(prefix)} is not a topic prefix: ${error}`);
    }
  }
  if (options.noServer === true && (options.workers ?? DEFAULTS.workers) > 0) {
    throw new TypeError('noServer serves handleUpgrade() on the calling thread: it takes workers: 0');
  }
}

/** The node's counters: every thread's, summed. */
export interface ServerStats {
  connections: number;
  bufferedAmount: number;
  /** Per worker (empty inline); null for a worker that is down or did not answer. */
  workers: (ThreadStats | null)[];
  pubsub: { subscriptions: number } & ThreadStats['pubsub'];
  /** Connections closed or dropped for their send queues (summed over the threads). */
  buffers: ThreadStats['buffers'];
  /** Collections after connection storms, every thread's (the main thread's included). */
  idleCollections: IdleCollectionStats;
  /** Handler exceptions and rejections, every thread's: each closed its connection with 1011. */
  applicationErrors: number;
  /** Compressed messages being inflated, every thread's budget summed (peakBytes: the largest thread's). */
  inflate: ThreadStats['inflate'];
  /** The process's resident memory, and each thread's memory (main first, then each worker; null: not answering). */
  memory: { rss: number; threads: (ThreadMemory | null)[] };
  pool?: WorkerPool['stats'];
}

export class WasmSocketServer {
  readonly #net: NetServer;
  readonly #settings: ConnectionSettings;
  readonly #options: ServerOptions;
  readonly #log: (line: string) => void;
  readonly #app: Application;
  readonly #onError: (error: Error) => void;
  readonly #errorLog: ErrorLog;
  readonly #authorize: ((request: UpgradeRequest) => Promise<AuthorizeVerdict>) | undefined;
  /**
   * The connection server on this thread: inline mode's, or in worker mode the one made for
   * handleUpgrade() (a socket someone else's HTTP server has read from cannot move to a worker).
   */
  #local: ConnectionServer | undefined;
  readonly #pool: WorkerPool | undefined;
  readonly #relay: WorkerRelay | undefined;
  readonly #backplane: RedisBackplane | undefined;
  /** The node's history in memory (one node; with Redis it lives there). */
  readonly #history: MemoryHistory | undefined;
  /** Where this node's offsets come from (the memory history or Redis), when it keeps history. */
  readonly #nodeHistory: NodeHistory | undefined;
  /** Counts every connection of the node, whichever thread serves it. */
  readonly #admission: Admission;
  /** Keeps fds for answers: past the limit less the reserve, new connections get 503. */
  readonly #fds: FdReserve;
  /** Answers on this thread the connections no worker takes (made when first needed). */
  #mainThreadAnswers: MainThreadAnswers | undefined;
  #nextId = 1;
  #closing = false;
  /** Uncaught errors survived on this thread (inline mode under the CLI: inline-faults.ts). */
  #uncaughtErrors = 0;

  /** `app` runs inline; with workers, `appSpec` (its name or path) is loaded in every worker. */
  constructor(app: Application, options: ServerOptions, appSpec?: string) {
    validateOptions(options);
    this.#options = options;
    this.#app = app;
    this.#log = options.log ?? ((line) => console.error(`wasmsocket: ${line}`));
    // Without onError, an application's exceptions are logged (a few of each kind, the rest counted).
    const errorLog = new ErrorLog(this.#log);
    this.#errorLog = errorLog;
    this.#onError = options.onError ?? ((error) => errorLog.report(error));
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
      maxBufferedBytes: options.maxBufferedBytes ?? DEFAULTS.maxBufferedBytes,
      maxInflateBytes: options.maxInflateBytes ?? DEFAULTS.maxInflateBytes,
      slowSubscriberBytes: options.slowSubscriberBytes ?? DEFAULTS.slowSubscriberBytes,
      slowPolicy: options.slowPolicy ?? DEFAULTS.slowPolicy,
      maxSubscriptions: options.maxSubscriptions ?? DEFAULTS.maxSubscriptions,
      maxTotalSubscriptions: options.maxTotalSubscriptions ?? DEFAULTS.maxTotalSubscriptions,
      maxSubscriptionsPerIp: options.maxSubscriptionsPerIp ?? DEFAULTS.maxSubscriptionsPerIp,
      topicsPublic: options.topicsPublic ?? DEFAULTS.topicsPublic,
      path: options.path,
      pingIntervalMs: options.pingIntervalMs ?? DEFAULTS.pingIntervalMs,
      pingTimeoutMs: options.pingTimeoutMs ?? DEFAULTS.pingTimeoutMs,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
      idleCollectAfter: options.idleCollectAfter ?? DEFAULTS.idleCollectAfter,
      tls: options.tls === undefined ? undefined : checkedCertificate(options.tls),
    };
    const workers = options.workers ?? DEFAULTS.workers;
    this.#fds = new FdReserve(this.#log);
    this.#admission = new Admission({
      maxConnections: options.maxConnections ?? DEFAULTS.maxConnections,
      maxConnectionsPerIp: options.maxConnectionsPerIp ?? DEFAULTS.maxConnectionsPerIp,
    });
    const historyLimits = {
      size: options.historySize ?? DEFAULTS.historySize,
      ttlMs: options.historyTtlMs ?? DEFAULTS.historyTtlMs,
      maxBytes: options.maxHistoryBytes ?? DEFAULTS.maxHistoryBytes,
    };
    const keepsHistory = historyLimits.size > 0;
    if (options.redis !== undefined) {
      this.#backplane = new RedisBackplane({
        url: options.redis, nodeId: randomUUID(), log: this.#log,
        pingIntervalMs: options.redisPingIntervalMs, pingTimeoutMs: options.redisPingTimeoutMs,
        history: keepsHistory ? historyLimits : undefined,
        onMessage: (topic, payload, isBinary, offset) => {
          if (this.#relay !== undefined) this.#relay.fromBackplane(topic, payload, isBinary, offset);
          else this.#local!.broker.publishFromBackplane(topic, payload, isBinary, offset);
        },
        countSubscribers: (topic) => new Promise((resolve) => {
          if (this.#relay !== undefined) this.#relay.presence(NO_THREAD, topic, 0, resolve, false);
          else resolve(this.#local!.broker.exactSubscribers(topic));
        }),
      });
    } else if (keepsHistory) {
      this.#history = new MemoryHistory(historyLimits);
    }
    const backplane = this.#backplane;
    let nodeHistory: NodeHistory | undefined = undefined;
    if (this.#history !== undefined) nodeHistory = new LocalHistory(this.#history);
    else if (backplane !== undefined && keepsHistory) {
      nodeHistory = {
        sequence: (topic, message, done) => backplane.sequence(topic, message, done),
        read: (topic, query, done) => backplane.read(topic, query, done),
        otherNodes: (topic) => backplane.otherNodes(topic),
      };
    }
    this.#nodeHistory = nodeHistory;
    const authorize = options.authorize;
    const runAuthorize = authorize === undefined ? undefined
      : (request: UpgradeRequest) => runAuthorizeHook(authorize, request, this.#onError);
    this.#authorize = runAuthorize;
    if (workers > 0) {
      if (appSpec === undefined) throw new TypeError('with workers, the application must be given by name or path');
      const pool: WorkerPool = new WorkerPool({
        workers,
        heartbeatTimeoutMs: options.workerHeartbeatTimeoutMs ?? DEFAULTS.workerHeartbeatTimeoutMs,
        resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
        task: {
          app: appSpec, settings: this.#settings, authorize: runAuthorize !== undefined,
          relayPublishes: workers > 1 || this.#backplane !== undefined, relayPatterns: this.#backplane !== undefined,
          maxExternalMemory: options.maxWorkerExternalMemory ?? DEFAULTS.maxWorkerExternalMemory,
          history: nodeHistory !== undefined,
        },
        hooks: {
          authorize: runAuthorize ?? (async () => true),
          health: () => this.health(),
          publish: (from, topic, payload, isBinary) => relay.fromWorker(from, topic, payload, isBinary),
          pattern: (from, pattern, added) => relay.pattern(from, pattern, added),
          sequence: (from, topic, message, done) => relay.sequence(from, topic, message, done),
          history: (topic, query, done) => relay.read(topic, query, done),
          presence: (from, topic, local, done) => relay.presence(from, topic, local, done),
          workerLost: (slot) => relay.workerLost(slot),
          socketClosed: (id) => this.#admission.release(id),
          onError: this.#onError,
          log: this.#log,
        },
      });
      const relay = new WorkerRelay((topic, payload, isBinary, except, offset) => {
        pool.publish(topic, payload, isBinary, except, offset);
        if (except !== THIS_THREAD) this.#local?.broker.deliver(topic, payload, isBinary, offset);
      }, this.#backplane, nodeHistory, async (topic, except) => {
        const local = except === THIS_THREAD ? 0 : this.#local?.broker.exactSubscribers(topic) ?? 0;
        return local + await pool.subscriberCount(topic, except);
      });
      this.#pool = pool;
      this.#relay = relay;
    } else {
      this.#local = this.#createLocal(this.#backplane);
      if (nodeHistory !== undefined) {
        const history = nodeHistory;
        this.#local.broker.attachHistory({
          sequence: (topic, message, done) => history.sequence(topic, message, done),
          read: (topic, query, done) => history.read(topic, query, done),
          presence: (topic, local, done) => {
            void (history.otherNodes?.(topic) ?? Promise.resolve(0)).then((others) => done(local + others), () => done(local));
          },
        });
      }
    }
    // pauseOnConnect: a socket can move to a worker only while nothing has been read from it.
    this.#net = createNetServer({ pauseOnConnect: true }, (socket) => this.#accept(socket));
  }

  /** This thread's connection server; in worker mode its pub/sub joins the workers' through the relay. */
  #createLocal(backplane: Backplane | undefined): ConnectionServer {
    const services: NodeServices = {
      authorize: this.#authorize,
      health: () => this.health(),
      socketClosed: (id) => this.#admission.release(id),
      onError: (error, id) => {
        if (this.#options.onError !== undefined) this.#options.onError(error);
        else this.#errorLog.report(error, `application error, connection ${id}: `);
      },
    };
    return new ConnectionServer(this.#settings, this.#app, createCodec(this.#settings.codec), services, backplane);
  }

  /**
   * Serves an upgrade request that another HTTP server received (`server.on('upgrade', …)`),
   * with the same rules as our own listener. Such a socket has been read from, so it cannot move
   * to a worker: it is served on the calling thread, whatever `workers` says, and its pub/sub
   * joins the workers' and the other nodes'.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#closing) {
      socket.end(rejectionResponse(new HandshakeError(503, 'server shutting down')));
      return;
    }
    if (this.#local === undefined) {
      const relay = this.#relay!;
      this.#local = this.#createLocal({
        addPattern: (pattern) => relay.pattern(THIS_THREAD, pattern, true),
        removePattern: (pattern) => relay.pattern(THIS_THREAD, pattern, false),
        publish: (topic, payload, isBinary) => relay.fromWorker(THIS_THREAD, topic, payload, isBinary),
      });
      if (this.#nodeHistory !== undefined) {
        const source: HistorySource = {
          sequence: (topic, message, done) => relay.sequence(THIS_THREAD, topic, message, done),
          read: (topic, query, done) => relay.read(topic, query, done),
          presence: (topic, local, done) => relay.presence(THIS_THREAD, topic, local, done),
        };
        this.#local.broker.attachHistory(source);
      }
      // A single worker kept its publishes to itself; now this thread has subscribers too.
      this.#pool!.relayPublishes();
    }
    const id = this.#nextId++;
    const refusal = this.#admission.admit(id, (socket as Socket).remoteAddress ?? '');
    if (refusal !== undefined) {
      socket.end(rejectionResponse(new HandshakeError(refusal.status, refusal.reason)));
      return;
    }
    // Node's HTTP server hands over the net.Socket it read the request from.
    this.#local.handleUpgrade(request, socket as Socket, head, id);
  }

  get port(): number {
    return this.address().port;
  }

  /** True when the server speaks wss://. */
  get secure(): boolean {
    return this.#settings.tls !== undefined;
  }

  /**
   * Replaces the TLS certificate without a restart (say, after a renewal): new connections on
   * every worker use it, open ones keep theirs. A chain and key that do not load throw here.
   */
  setCertificate(tls: { cert: string | Buffer; key: string | Buffer }): void {
    if (this.#settings.tls === undefined) throw new TypeError('setCertificate: this server was started without tls');
    const certificate = checkedCertificate(tls);
    this.#settings.tls = certificate;
    this.#local?.setCertificate(certificate);
    this.#pool?.setCertificate(certificate);
  }

  /** The listener's address; null with noServer (or before listen()). */
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
    else this.#local!.broker.publish(topic, payload, binary);
  }

  /**
   * Publishes a pub/sub message like a client's JSON publish: subscribers get
   * `{"type":"message","topic":T,"data":D,"offset":N}`, kept in the topic's history. Resolves
   * with its offset and the topic's epoch (undefined when the server keeps no history).
   */
  publishMessage(topic: string, data: unknown): Promise<StreamPosition | undefined> {
    const error = topicError(topic, false);
    if (error !== undefined) throw new TypeError(`invalid topic "${topic}": ${error}`);
    const message = Buffer.from(messageEnvelope(topic, data), 'utf8');
    return new Promise((resolve) => {
      if (this.#relay !== undefined) {
        this.#relay.stats.published++;
        this.#relay.sequence(NO_THREAD, topic, message, (sequenced) => resolve(sequenced.position));
      } else {
        this.#local!.broker.publish(topic, message, false, { history: true, onPublished: resolve });
      }
    });
  }

  /**
   * A topic's position and kept messages: the newest `limit`, or those after `since` (then
   * `recovered` says whether all of them are still kept). Undefined when the server keeps no history.
   */
  history(topic: string, query: HistoryQuery = {}): Promise<HistoryReply | undefined> {
    const error = topicError(topic, false);
    if (error !== undefined) throw new TypeError(`invalid topic "${topic}": ${error}`);
    return new Promise((resolve) => {
      if (this.#relay !== undefined) this.#relay.read(topic, query, resolve);
      else this.#local!.broker.history(topic, query, resolve);
    });
  }

  /** Subscriptions to exactly `topic` on every worker and node (patterns matching it are not counted). */
  presence(topic: string): Promise<number> {
    const error = topicError(topic, false);
    if (error !== undefined) throw new TypeError(`invalid topic "${topic}": ${error}`);
    return new Promise((resolve) => {
      if (this.#relay !== undefined) this.#relay.presence(NO_THREAD, topic, 0, resolve);
      else this.#local!.broker.presence(topic, resolve);
    });
  }

  /** The node's counters, asked of every worker. */
  async stats(): Promise<ServerStats> {
    const workers = this.#pool === undefined ? [] : await this.#pool.threadStats();
    const threads = this.#local === undefined ? workers : [this.#local.stats(), ...workers];
    const pubsub = { subscriptions: 0, ...emptyBrokerStats() };
    const buffers = { closedSendQueueFull: 0, closedBufferLimit: 0, releasedClosing: 0 };
    let connections = 0;
    let bufferedAmount = 0;
    let applicationErrors = 0;
    const inflate = { inUseBytes: 0, peakBytes: 0, granted: 0, waited: 0, waiting: 0 };
    for (const thread of threads) {
      if (thread === undefined) continue;
      connections += thread.connections;
      applicationErrors += thread.applicationErrors;
      inflate.inUseBytes += thread.inflate.inUseBytes;
      inflate.peakBytes = Math.max(inflate.peakBytes, thread.inflate.peakBytes);
      inflate.granted += thread.inflate.granted;
      inflate.waited += thread.inflate.waited;
      inflate.waiting += thread.inflate.waiting;
      bufferedAmount += thread.bufferedAmount;
      buffers.closedSendQueueFull += thread.buffers.closedSendQueueFull;
      buffers.closedBufferLimit += thread.buffers.closedBufferLimit;
      buffers.releasedClosing += thread.buffers.releasedClosing;
      pubsub.subscriptions += thread.subscriptions;
      for (const key of BROKER_COUNTERS) pubsub[key] += thread.pubsub[key];
    }
    // The main thread's own count once: #local's stats read the same per-thread counter.
    const idleCollections = idleCollectionStats();
    for (const worker of workers) {
      if (worker === undefined) continue;
      idleCollections.collections += worker.idleCollections.collections;
      idleCollections.pauseMs += worker.idleCollections.pauseMs;
    }
    if (this.#relay !== undefined) {
      pubsub.published += this.#relay.stats.published;
      pubsub.received += this.#relay.stats.received;
    }
    // The main thread's own memory once: #local's stats read this same thread's.
    const memory = { rss: process.memoryUsage.rss(), threads: [threadMemory(), ...workers.map((thread) => thread?.memory ?? null)] };
    return {
      connections, bufferedAmount, pubsub, buffers, idleCollections, applicationErrors, inflate, memory,
      workers: workers.map((thread) => thread ?? null),
      ...(this.#pool === undefined ? {} : { pool: { ...this.#pool.stats } }),
    };
  }

  /**
   * An error nobody caught reached this thread's process and the process goes on (see
   * inline-faults.ts): logged with its stack, counted in /healthz as `uncaughtErrors`.
   */
  noteUncaughtError(error: Error): void {
    this.#uncaughtErrors++;
    this.#log(`uncaught error (the server keeps running, its connections stay open): ${error.stack ?? error.message}`);
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
      buffers: { bufferedAmount: stats.bufferedAmount, ...stats.buffers },
      admission: { ...this.#admission.stats },
      fds: this.#fds.stats,
      uncaughtErrors: this.#uncaughtErrors,
      applicationErrors: stats.applicationErrors,
      inflate: stats.inflate,
      idleCollections: { collections: stats.idleCollections.collections, pauseMs: Math.round(stats.idleCollections.pauseMs) },
      memory: stats.memory,
      backplane: this.#backplane === undefined ? 'none' : { state: this.#backplane.state, peers: this.#backplane.peers, ...this.#backplane.stats },
    };
  }

  /** Starts listening once the workers are ready to take sockets. */
  async listen(): Promise<void> {
    await this.#pool?.started;
    if (this.#options.noServer === true) return;
    return new Promise((resolve, reject) => {
      this.#net.once('error', reject);
      this.#net.listen(this.#options.port ?? DEFAULTS.port, this.#options.host ?? DEFAULTS.host, () => {
        this.#net.off('error', reject);
        // Accept errors (a full fd table) are logged, never fatal.
        this.#net.on('error', (error: NodeJS.ErrnoException) => this.#fds.acceptFailed(error));
        this.#fds.measure(this.#admission.stats.open);
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
    const listenerClosed = new Promise<void>((resolve) => (this.#net.listening ? this.#net.close(() => resolve()) : resolve()));
    const { closeTimeoutMs } = this.#settings;
    if (this.#local !== undefined) await this.#local.close(code, reason);
    // A worker gets the close timeout plus a margin to report back; a stuck one is not waited for.
    if (this.#pool !== undefined) {
      await this.#pool.shutdown(code, reason, closeTimeoutMs + 1000);
      await this.#pool.close();
    }
    await this.#backplane?.close();
    this.#history?.close();
    this.#mainThreadAnswers?.close();
    await listenerClosed;
  }

  #accept(socket: Socket): void {
    if (!this.#fds.admit(this.#admission.stats.open)) {
      const refusal = { status: 503, reason: 'the server is out of file descriptors; try again later', healthStatus: 200 };
      if (this.#fds.canAnswer) this.#answerHere(socket, refusal);
      else this.#refuseAtOnce(socket, refusal);
      return;
    }
    const id = this.#nextId++;
    const refusal = this.#admission.admit(id, socket.remoteAddress ?? '');
    if (refusal !== undefined) {
      this.#answerHere(socket, { ...refusal, healthStatus: 200 });
      return;
    }
    if (this.#pool === undefined) {
      this.#local!.adopt(socket, id);
      return;
    }
    if (this.#pool.hand(socket, id)) return;
    this.#admission.release(id);
    this.#answerHere(socket, { status: 503, reason: 'no worker could take the connection; try again later', healthStatus: 503 });
  }

  /**
   * A refusal in a burst past what the fd reserve answers the usual way (fd-reserve.ts,
   * canAnswer): the 503 is written as the socket is accepted (a fresh socket's send buffer takes
   * it at once) and the socket closed, so its fd is free before the next accept. Its request is
   * not read: a client that sent it already may see a reset after the 503. Over TLS nothing can
   * be written before a handshake: the connection is closed (counted all the same).
   */
  #refuseAtOnce(socket: Socket, refusal: MainThreadRefusal): void {
    this.#fds.refusedAtOnce();
    socket.on('error', () => { /* a reset from a client that wrote meanwhile */ });
    if (this.#settings.tls === undefined) socket.write(rejectionResponse(new HandshakeError(refusal.status, refusal.reason)));
    socket.destroy();
  }

  #answerHere(socket: Socket, refusal: MainThreadRefusal): void {
    this.#fds.answering(socket);
    this.#mainThreadAnswers ??= new MainThreadAnswers(() => this.health());
    const { tls } = this.#settings;
    // Made per refused connection (rare), so a replaced certificate is used at once.
    this.#mainThreadAnswers.answer(socket, refusal, tls === undefined ? undefined : createSecureContext(tls));
  }
}

/** The PEM strings of a certificate and key that Node's TLS loads; a clear error otherwise. */
function checkedCertificate(tls: { cert: string | Buffer; key: string | Buffer }): TlsCertificate {
  const certificate = { cert: String(tls.cert), key: String(tls.key) };
  try {
    createSecureContext(certificate);
  } catch (error) {
    throw new TypeError(`tls: the certificate and key do not load: ${(error as Error).message}`);
  }
  return certificate;
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
