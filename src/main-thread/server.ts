/**
 * The server as its user sees it, on the main thread: it listens, accepts each TCP connection
 * without reading from it, and hands it to the thread that will own it: its placement, chosen
 * once here, is a pool of workers or the ConnectionServer on this thread (`workers: 0`).
 * Per-connection bytes never pass through the main thread in worker mode. It also runs the
 * hooks given to `listen()`, sums the node's state for /healthz, and joins other nodes through Redis.
 */
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { CloseCode } from '../protocol/close-codes.js';
import { loadApplication, type Application, type Connection } from '../apps/app.js';
import { ErrorLog } from '../apps/error-log.js';
import { PoolPlacement } from '../pool/pool-placement.js';
import { rejectionResponse } from '../handshake/handshake.js';
import { HandshakeError } from '../protocol/errors.js';
import type { RedisBackplane } from '../pubsub/redis-backplane.js';
import { nodePubSub } from './node-pubsub.js';
import { messageEnvelope, type MemoryHistory, type HistoryQuery, type HistoryReply, type StreamPosition } from '../pubsub/history.js';
import { topicError } from '../pubsub/topics.js';
import type { ConnectionSettings, NodeServices } from '../server/connection-server.js';
import { runAuthorizeHook, type AuthorizeVerdict, type UpgradeRequest } from '../server/upgrade-request.js';
import { Acceptor } from './acceptor.js';
import { connectionSettings, DEFAULTS, resolveOptions, validateOptions, type ResolvedOptions, type ServerOptions } from '../server/options.js';
import { checkedCertificate } from '../server/certificate.js';
import { InlinePlacement } from '../server/inline-placement.js';
import type { Placement } from '../server/placement.js';
import { nodeStats, type ServerStats } from './node-stats.js';
import { Logger, type LogSink } from '../logging/logger.js';
import { MetricsEndpoint } from './metrics-endpoint.js';
import type { NodeMetrics, NodeSnapshot } from './metrics.js';
import { eventLoopDelay, watchEventLoopDelay } from '../metrics/event-loop-delay.js';

export type { AuthorizeVerdict as AuthorizeResult, UpgradeRequest, ServerStats };
export { DEFAULTS, type ServerOptions };

export class WasmSocketServer {
  readonly #net: NetServer;
  readonly #settings: ConnectionSettings;
  readonly #options: ResolvedOptions;
  readonly #log: LogSink;
  /** Where the connections are served: this thread or the workers. */
  readonly #placement: Placement;
  readonly #backplane: RedisBackplane | undefined;
  /** The node's history in memory (one node; with Redis it lives there). */
  readonly #history: MemoryHistory | undefined;
  /** Admission and the answers to connections no thread takes. */
  readonly #acceptor: Acceptor;
  #closing = false;
  /** Uncaught errors survived on this thread (inline mode under the CLI: inline-faults.ts). */
  #uncaughtErrors = 0;
  #metrics: Promise<NodeMetrics> | undefined;
  readonly #metricsEndpoint: MetricsEndpoint | undefined;

  /** `app` runs inline; with workers, `appSpec` (its name or path) is loaded in every worker. */
  constructor(app: Application, options: ServerOptions, appSpec?: string) {
    const resolved = resolveOptions(options);
    this.#options = resolved;
    const write = resolved.log;
    const log = new Logger({ format: resolved.logFormat, level: resolved.logLevel, write: write === undefined ? undefined : (line) => write(line) }).sink;
    this.#log = log;
    // Without onError, an application's exceptions are logged (a few of each kind, the rest counted).
    const errorLog = new ErrorLog((message) => log({ level: 'error', event: 'application_error', message }));
    const onError = resolved.onError ?? ((error) => errorLog.report(error));
    this.#settings = connectionSettings(resolved);
    this.#acceptor = new Acceptor(resolved, log, () => this.health(), () => this.#settings.tls);
    const pubsub = nodePubSub(resolved, log, {
      onMessage: (topic, payload, isBinary, offset) => this.#placement.fromBackplane(topic, payload, isBinary, offset),
      countSubscribers: (topic) => this.#placement.presence(topic, false),
    });
    this.#backplane = pubsub.backplane;
    this.#history = pubsub.memory;
    const { history } = pubsub;
    const authorize = resolved.authorize;
    const services: NodeServices = {
      authorize: authorize === undefined ? undefined : (request: UpgradeRequest) => runAuthorizeHook(authorize, request, onError),
      health: () => this.health(),
      socketClosed: (id) => this.#acceptor.release(id),
      onError: (error, id) => {
        if (resolved.onError !== undefined) resolved.onError(error);
        else errorLog.report(error, `application error, connection ${id}: `);
      },
      log,
    };
    if (resolved.workers === 0) {
      this.#placement = new InlinePlacement(this.#settings, app, services, this.#backplane, history);
    } else {
      if (appSpec === undefined) throw new TypeError('with workers, the application must be given by name or path');
      this.#placement = new PoolPlacement({
        workers: resolved.workers, heartbeatTimeoutMs: resolved.workerHeartbeatTimeoutMs, appSpec, app,
        settings: this.#settings, services, onError, log, backplane: this.#backplane, history, watchEventLoop: resolved.metricsPort !== undefined,
      });
    }
    if (resolved.metricsPort !== undefined) {
      watchEventLoopDelay();
      this.#metricsEndpoint = new MetricsEndpoint(() => this.#nodeMetrics());
    }
    // pauseOnConnect: a socket can move to a worker only while nothing has been read from it.
    this.#net = createNetServer({ pauseOnConnect: true }, (socket) => this.#acceptor.accept(socket, this.#placement));
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
    // Node's HTTP server hands over the net.Socket it read the request from.
    const admitted = this.#acceptor.admitUpgrade(socket as Socket);
    if ('id' in admitted) this.#placement.handleUpgrade(request, socket as Socket, head, admitted.id);
    else socket.end(rejectionResponse(new HandshakeError(admitted.status, admitted.reason)));
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
    this.#placement.setCertificate(certificate);
  }

  /** The listener's address; null with noServer (or before listen()). */
  address(): AddressInfo {
    return this.#net.address() as AddressInfo;
  }

  /** The port /metrics is served on; undefined without `metricsPort`. */
  get metricsPort(): number | undefined {
    return this.#metricsEndpoint?.port;
  }

  /** The node's metrics in the Prometheus text format: what GET /metrics on `metricsPort` answers. */
  async metrics(): Promise<string> {
    return (await this.#nodeMetrics()).render();
  }

  /** Made at the first scrape: prom-client is loaded only by a server that is asked for metrics. */
  #nodeMetrics(): Promise<NodeMetrics> {
    this.#metrics ??= import('./metrics.js').then(({ NodeMetrics }) => new NodeMetrics(() => this.#metricsSnapshot()));
    return this.#metrics;
  }

  async #metricsSnapshot(): Promise<NodeSnapshot> {
    const stats = await this.stats();
    const cpu = process.cpuUsage();
    const backplane = this.#backplane;
    return {
      stats, ...this.#acceptor.metrics(), uncaughtErrors: this.#uncaughtErrors, mainEventLoopDelay: eventLoopDelay(),
      cpuSeconds: { user: cpu.user / 1e6, system: cpu.system / 1e6 },
      backplane: backplane === undefined ? undefined : { state: backplane.state, nodes: backplane.peers.nodes, stats: { ...backplane.stats } },
    };
  }

  /** Sockets per worker, handed out and not closed yet (empty inline). */
  get workerLoads(): number[] {
    return this.#placement.loads;
  }

  /** Publishes to every subscriber of `topic` on every worker and node, like `conn.publish()`. */
  publish(topic: string, data: string | Uint8Array, isBinary?: boolean): void {
    checkTopic(topic);
    const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const binary = typeof data === 'string' ? isBinary === true : isBinary !== false;
    this.#placement.publish(topic, payload, binary);
  }

  /**
   * Publishes a pub/sub message like a client's JSON publish: subscribers get
   * `{"type":"message","topic":T,"data":D,"offset":N}`, kept in the topic's history. Resolves
   * with its offset and the topic's epoch (undefined when the server keeps no history).
   */
  publishMessage(topic: string, data: unknown): Promise<StreamPosition | undefined> {
    checkTopic(topic);
    return this.#placement.publishMessage(topic, Buffer.from(messageEnvelope(topic, data), 'utf8'));
  }

  /**
   * A topic's position and kept messages: the newest `limit`, or those after `since` (then
   * `recovered` says whether all of them are still kept). Undefined when the server keeps no history.
   */
  history(topic: string, query: HistoryQuery = {}): Promise<HistoryReply | undefined> {
    checkTopic(topic);
    return this.#placement.history(topic, query);
  }

  /** Subscriptions to exactly `topic` on every worker and node (patterns matching it are not counted). */
  presence(topic: string): Promise<number> {
    checkTopic(topic);
    return this.#placement.presence(topic, true);
  }

  /** The node's counters, asked of every worker. */
  async stats(): Promise<ServerStats> {
    return nodeStats(await this.#placement.stats());
  }

  /**
   * An error nobody caught reached this thread's process and the process goes on (see
   * inline-faults.ts): logged with its stack, counted in /healthz as `uncaughtErrors`.
   */
  noteUncaughtError(error: Error): void {
    this.#uncaughtErrors++;
    this.#log({ level: 'error', event: 'uncaught_error', message: `uncaught error (the server keeps running, its connections stay open): ${error.stack ?? error.message}` });
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
      ...this.#acceptor.health(),
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
    await this.#placement.started;
    await this.#metricsEndpoint?.listen(this.#options.metricsPort!, this.#options.host);
    if (this.#options.noServer) return;
    return new Promise((resolve, reject) => {
      this.#net.once('error', reject);
      this.#net.listen(this.#options.port, this.#options.host, () => {
        this.#net.off('error', reject);
        this.#acceptor.listening(this.#net);
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
    await this.#placement.close(code, reason, this.#settings.closeTimeoutMs);
    await this.#backplane?.close();
    this.#history?.close();
    await this.#metricsEndpoint?.close();
    this.#acceptor.close();
    await listenerClosed;
  }
}

/** A TypeError for a topic that is not one (`server.publish()` and the pub/sub methods take no pattern). */
function checkTopic(topic: string): void {
  const error = topicError(topic, false);
  if (error !== undefined) throw new TypeError(`invalid topic "${topic}": ${error}`);
}

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
