/**
 * The main-thread server: listens, answers plain HTTP, performs the opening handshake and hands
 * each upgraded socket to its connection: an AppConnection on this thread (`workers: 0`) or a
 * worker of the pool, which owns it for its whole life.
 */
import { createServer, IncomingMessage, ServerResponse, Server, STATUS_CODES } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { CodecKind, FrameCodec } from '../codec/codec.js';
import { createCodec } from '../codec/select.js';
import { validateUpgrade, rejectionResponse } from '../handshake/handshake.js';
import { HandshakeError } from '../protocol/errors.js';
import type { Utf8ValidatorChoice } from '../protocol/protocol.js';
import { CloseCode } from '../protocol/close-codes.js';
import { loadApplication, type Application, type Connection } from '../apps/app.js';
import { AppConnection } from '../apps/app-connection.js';
import { WorkerPool } from '../pool/pool.js';
import { Broker, type SlowSubscriberPolicy } from '../pubsub/broker.js';
import { RedisBackplane } from '../pubsub/redis-backplane.js';
import { topicError } from '../pubsub/topics.js';
import { SocketLink } from './socket-io.js';
import { answerHttp, answerClientError } from './http-answers.js';
import { Session, InlineTransport } from './session.js';

/** Answer of the `authorize` hook: true accepts, false refuses with 401, or a chosen status. */
export type AuthorizeResult = boolean | { status: number; reason?: string };

export interface ServerOptions {
  host?: string;
  port?: number;
  /** `echo`, `pubsub`, a module path, or an application object (inline only). */
  app?: string | Application;
  codec?: CodecKind;
  /** Worker threads running the connections; 0 runs them inline on the main thread. */
  workers?: number;
  /** UTF-8 of text messages: 'native' (isUtf8 or streaming, per segment) or the codec's own scan. */
  utf8Validator?: Utf8ValidatorChoice;
  maxPayload?: number;
  subprotocols?: readonly string[];
  /** Allowed `Origin` values; empty or undefined allows any origin. */
  origins?: readonly string[];
  authorize?: (request: IncomingMessage) => AuthorizeResult | Promise<AuthorizeResult>;
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
  /** Reports application exceptions and other per-connection failures. */
  onError?: (error: Error) => void;
  /** Operational messages (backplane up/down); default console.error. */
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
};


type ResolvedOptions = Required<Omit<ServerOptions, 'authorize' | 'onError' | 'app' | 'redis' | 'log'>>
  & Pick<ServerOptions, 'authorize' | 'onError' | 'redis'> & { log: (line: string) => void };

export class WasmSocketServer {
  /** The main thread's codec (inline connections); workers instantiate their own. */
  readonly codec: FrameCodec;
  readonly #http: Server;
  readonly #app: Application;
  readonly #pool: WorkerPool | undefined;
  readonly #options: ResolvedOptions;
  readonly #sessions = new Map<number, Session>();
  readonly broker: Broker;
  readonly #backplane: RedisBackplane | undefined;
  #nextId = 1;
  #closing = false;

  /** `app` runs inline; with workers, `appSpec` (its name or path) is loaded in every worker. */
  constructor(app: Application, options: ServerOptions, appSpec?: string) {
    this.#app = app;
    this.#options = {
      host: options.host ?? DEFAULTS.host,
      port: options.port ?? DEFAULTS.port,
      codec: options.codec ?? DEFAULTS.codec,
      workers: options.workers ?? DEFAULTS.workers,
      utf8Validator: options.utf8Validator ?? DEFAULTS.utf8Validator,
      maxPayload: options.maxPayload ?? DEFAULTS.maxPayload,
      subprotocols: options.subprotocols ?? [],
      origins: options.origins ?? [],
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs,
      maxHeaderBytes: options.maxHeaderBytes ?? DEFAULTS.maxHeaderBytes,
      closeTimeoutMs: options.closeTimeoutMs ?? DEFAULTS.closeTimeoutMs,
      highWaterMark: options.highWaterMark ?? DEFAULTS.highWaterMark,
      slowSubscriberBytes: options.slowSubscriberBytes ?? DEFAULTS.slowSubscriberBytes,
      slowPolicy: options.slowPolicy ?? DEFAULTS.slowPolicy,
      authorize: options.authorize,
      onError: options.onError,
      redis: options.redis,
      log: options.log ?? ((line) => console.error(`wasmsocket: ${line}`)),
    };
    this.codec = createCodec(this.#options.codec);
    this.broker = new Broker({ codec: this.codec, slowSubscriberBytes: this.#options.slowSubscriberBytes, slowPolicy: this.#options.slowPolicy });
    if (this.#options.redis !== undefined) {
      this.#backplane = new RedisBackplane({
        url: this.#options.redis, nodeId: randomUUID(), log: this.#options.log,
        onMessage: (topic, payload, isBinary) => this.broker.publishFromBackplane(topic, payload, isBinary),
      });
      this.broker.attachBackplane(this.#backplane);
    }
    if (this.#options.workers > 0) {
      if (appSpec === undefined) throw new TypeError('with workers, the application must be given by name or path');
      this.#pool = new WorkerPool({
        workers: this.#options.workers, app: appSpec, codec: this.#options.codec,
        maxPayload: this.#options.maxPayload, utf8Validator: this.#options.utf8Validator, onError: options.onError,
        pubsub: {
          subscribe: (id, pattern) => this.#withSession(id, (session) => this.broker.subscribe(pattern, session)),
          unsubscribe: (id, pattern) => this.#withSession(id, (session) => this.broker.unsubscribe(pattern, session)),
          publish: (_id, topic, payload, isBinary) => this.broker.publish(topic, payload, isBinary),
        },
      });
    }
    this.#http = createServer({ maxHeaderSize: this.#options.maxHeaderBytes });
    this.#http.on('connection', (socket: Socket) => this.#armHandshakeDeadline(socket));
    this.#http.on('request', (request: IncomingMessage, response: ServerResponse) => answerHttp(request, response, {
      handshakeOptions: this.#handshakeOptions(), health: () => this.health(),
    }));
    this.#http.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => void this.#upgrade(request, socket, head));
    this.#http.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => answerClientError(error, socket));
  }

  get port(): number {
    return this.address().port;
  }

  address(): AddressInfo {
    return this.#http.address() as AddressInfo;
  }

  get connectionCount(): number {
    return this.#sessions.size;
  }

  /** Bytes queued on all sockets and not yet written: what slow readers cost the server. */
  get bufferedAmount(): number {
    let total = 0;
    for (const session of this.#sessions.values()) total += session.link.bufferedAmount;
    return total;
  }

  /** Publishes to every subscriber of `topic` on every node, like `conn.publish()`. */
  publish(topic: string, data: string | Uint8Array, isBinary?: boolean): number {
    const error = topicError(topic, false);
    if (error !== undefined) throw new TypeError(`invalid topic "${topic}": ${error}`);
    const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    return this.broker.publish(topic, payload, typeof data === 'string' ? isBinary === true : isBinary !== false);
  }

  /** The state reported by GET /healthz. */
  health(): Record<string, unknown> {
    return {
      status: 'ok',
      connections: this.#sessions.size,
      workers: this.workerLoads,
      pubsub: { subscriptions: this.broker.subscriptionCount, ...this.broker.stats },
      backplane: this.#backplane === undefined ? 'none' : { state: this.#backplane.state, ...this.#backplane.stats },
    };
  }

  #withSession(id: number, use: (session: Session) => void): void {
    const session = this.#sessions.get(id);
    if (session !== undefined) use(session);
  }

  /** Connections per worker (empty when inline). */
  get workerLoads(): number[] {
    return this.#pool?.loads ?? [];
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(this.#options.port, this.#options.host, () => {
        this.#http.off('error', reject);
        resolve();
      });
    });
  }

  /**
   * Stops accepting, closes every connection with `code` (1001 by default), waits for them to
   * finish (bounded by the close timeout, then drops what is left) and closes the listener.
   */
  async close(code: number = CloseCode.GOING_AWAY, reason = 'server shutting down'): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const listenerClosed = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    this.#http.closeIdleConnections();
    const finished = [...this.#sessions.values()].map((session) => { session.close(code, reason); return session.link.closed; });
    const deadline = setTimeout(() => { for (const session of this.#sessions.values()) session.link.terminate(); }, this.#options.closeTimeoutMs);
    await Promise.all(finished);
    clearTimeout(deadline);
    await this.#pool?.close();
    await this.#backplane?.close();
    this.#http.closeAllConnections();
    await listenerClosed;
  }

  /** RFC 6455 §4.1 leaves the handshake's duration to the server: ours is bounded. */
  #armHandshakeDeadline(socket: Socket): void {
    const timer = setTimeout(() => {
      handshakeDeadlines.delete(socket);
      socket.destroy();
    }, this.#options.handshakeTimeoutMs);
    timer.unref();
    handshakeDeadlines.set(socket, timer);
  }



  #handshakeOptions() {
    return { subprotocols: this.#options.subprotocols, origins: this.#options.origins };
  }

  async #upgrade(request: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    try {
      if (this.#closing) throw new HandshakeError(503, 'server shutting down');
      const accepted = validateUpgrade(request, this.#handshakeOptions());
      if (this.#options.authorize !== undefined) await this.#authorize(request);
      if (socket.destroyed) return; // the deadline passed while authorizing
      if (this.#pool !== undefined && !this.#pool.canAccept) throw new HandshakeError(503, 'no worker is running; try again later');
      // Past the handshake: no deadline any more, and no timer kept alive per idle connection.
      clearTimeout(handshakeDeadlines.get(socket));
      handshakeDeadlines.delete(socket);
      socket.write(accepted.response);
      this.#startSession(socket, accepted.protocol, head);
    } catch (error) {
      const refusal = error instanceof HandshakeError ? error : new HandshakeError(500, 'handshake failed');
      if (!(error instanceof HandshakeError)) this.#options.onError?.(error as Error);
      if (!socket.destroyed) socket.end(rejectionResponse(refusal));
    }
  }

  #startSession(socket: Socket, subprotocol: string | undefined, head: Buffer): void {
    const id = this.#nextId++;
    const link = new SocketLink(socket, {
      highWaterMark: this.#options.highWaterMark,
      closeTimeoutMs: this.#options.closeTimeoutMs,
      onClosed: () => {
        this.#sessions.delete(id);
        this.broker.removeSubscriber(session);
      },
    });
    const session = new Session(id, link);
    this.#sessions.set(id, session);
    if (this.#pool !== undefined) {
      const pooled = this.#pool.open(id, link, subprotocol, head);
      session.close = (code, reason) => pooled.close(code, reason);
    } else {
      const conn = new AppConnection(this.codec, this.#app, new InlineTransport(session, this.broker), {
        id, subprotocol, maxPayload: this.#options.maxPayload, utf8Validator: this.#options.utf8Validator,
        onError: (error) => this.#options.onError?.(error),
      });
      link.attach(conn);
      session.close = (code, reason) => conn.close(code, reason);
      // Bytes that came in the same packet as the request are the connection's first input.
      conn.start(head);
    }
  }

  async #authorize(request: IncomingMessage): Promise<void> {
    let verdict: AuthorizeResult;
    try {
      verdict = await this.#options.authorize!(request);
    } catch (error) {
      this.#options.onError?.(error as Error);
      throw new HandshakeError(500, 'authorization failed');
    }
    if (verdict === true) return;
    if (verdict === false) throw new HandshakeError(401, 'not authorized');
    const status = Number.isInteger(verdict.status) && verdict.status >= 400 && verdict.status < 600 ? verdict.status : 403;
    throw new HandshakeError(status, verdict.reason ?? STATUS_CODES[status] ?? 'refused');
  }
}

/** Handshake deadlines of sockets not upgraded yet. */
const handshakeDeadlines = new WeakMap<Socket, NodeJS.Timeout>();


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
