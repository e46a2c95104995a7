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
import { createCodec } from '../codec/select.js';
import { CloseCode } from '../protocol/close-codes.js';
import { loadApplication, type Application, type Connection } from '../apps/app.js';
import { ErrorLog } from '../apps/error-log.js';
import { WorkerPool } from '../pool/pool.js';
import { BROKER_COUNTERS, emptyBrokerStats, type Backplane } from '../pubsub/broker.js';
import { rejectionResponse } from '../handshake/handshake.js';
import { HandshakeError } from '../protocol/errors.js';
import { RedisBackplane } from '../pubsub/redis-backplane.js';
import { WorkerRelay, type NodeHistory } from '../pubsub/relay.js';
import { LocalHistory, MemoryHistory, type HistoryQuery, type HistoryReply, type HistorySource, type StreamPosition } from '../pubsub/history.js';
import { messageEnvelope } from '../apps/app-connection.js';
import { topicError } from '../pubsub/topics.js';
import { ConnectionServer, type ConnectionSettings, type NodeServices, type ThreadStats, type TlsCertificate } from './connection-server.js';
import { runAuthorizeHook, type AuthorizeVerdict, type UpgradeRequest } from './upgrade-request.js';
import { MainThreadAnswers, type MainThreadRefusal } from './http-answers.js';
import { Admission } from './admission.js';
import { FdReserve } from './fd-reserve.js';
import { connectionSettings, DEFAULTS, resolveOptions, validateOptions, type ResolvedOptions, type ServerOptions } from './options.js';
import { checkedCertificate } from './certificate.js';
import { idleCollectionStats, type IdleCollectionStats } from './idle-collector.js';
import { threadMemory, type ThreadMemory } from './thread-memory.js';

export type { AuthorizeVerdict as AuthorizeResult, UpgradeRequest };

export { DEFAULTS, type ServerOptions };

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
  readonly #options: ResolvedOptions;
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
    const resolved = resolveOptions(options);
    this.#options = resolved;
    this.#app = app;
    this.#log = resolved.log ?? ((line) => console.error(`wasmsocket: ${line}`));
    // Without onError, an application's exceptions are logged (a few of each kind, the rest counted).
    const errorLog = new ErrorLog(this.#log);
    this.#errorLog = errorLog;
    this.#onError = resolved.onError ?? ((error) => errorLog.report(error));
    this.#settings = connectionSettings(resolved);
    const { workers } = resolved;
    this.#fds = new FdReserve(this.#log);
    this.#admission = new Admission({
      maxConnections: resolved.maxConnections,
      maxConnectionsPerIp: resolved.maxConnectionsPerIp,
    });
    const historyLimits = { size: resolved.historySize, ttlMs: resolved.historyTtlMs, maxBytes: resolved.maxHistoryBytes };
    const keepsHistory = historyLimits.size > 0;
    if (resolved.redis !== undefined) {
      this.#backplane = new RedisBackplane({
        url: resolved.redis, nodeId: randomUUID(), log: this.#log,
        pingIntervalMs: resolved.redisPingIntervalMs, pingTimeoutMs: resolved.redisPingTimeoutMs,
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
    const authorize = resolved.authorize;
    const runAuthorize = authorize === undefined ? undefined
      : (request: UpgradeRequest) => runAuthorizeHook(authorize, request, this.#onError);
    this.#authorize = runAuthorize;
    if (workers > 0) {
      if (appSpec === undefined) throw new TypeError('with workers, the application must be given by name or path');
      const pool: WorkerPool = new WorkerPool({
        workers,
        heartbeatTimeoutMs: resolved.workerHeartbeatTimeoutMs,
        resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
        task: {
          app: appSpec, settings: this.#settings, authorize: runAuthorize !== undefined,
          relayPublishes: workers > 1 || this.#backplane !== undefined, relayPatterns: this.#backplane !== undefined,
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
      this.#net.listen(this.#options.port, this.#options.host, () => {
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
  validateOptions(options);
  const given = options.app ?? DEFAULTS.app;
  const appSpec = typeof given === 'string' ? given : undefined;
  // Loaded here even with workers, so a bad path fails at start with a clear message.
  const app = typeof given === 'string' ? await loadApplication(given) : given;
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
