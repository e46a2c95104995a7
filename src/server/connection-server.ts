/**
 * ConnectionServer: a whole WebSocket server for the sockets handed to it, on whichever thread
 * it runs (a worker of the pool, or the main thread with `workers: 0`; the code is the same).
 * It parses HTTP (Node's parser), applies the handshake rules, answers plain HTTP, and runs each
 * upgraded connection: socket I/O, protocol, application, and this thread's pub/sub broker.
 * What only the node as a whole knows (the `authorize` hook, /healthz, admission counts) it asks
 * of its `NodeServices`.
 */
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { CodecKind, FrameCodec } from '../codec/codec.js';
import { validateUpgrade, rejectionResponse, type HandshakeAccept } from '../handshake/handshake.js';
import type { DeflateSettings } from '../extensions/deflate-options.js';
import { HandshakeError } from '../protocol/errors.js';
import type { Utf8ValidatorChoice } from '../protocol/protocol.js';
import type { Application } from '../apps/app.js';
import { AppConnection } from '../apps/app-connection.js';
import { Broker, type Backplane, type BrokerStats, type SlowSubscriberPolicy } from '../pubsub/broker.js';
import { SocketLink } from './socket-io.js';
import { answerHttp, answerClientError } from './http-answers.js';
import { Session, SessionTransport } from './session.js';
import { enforceVerdict, upgradeRequestOf, type AuthorizeVerdict, type UpgradeRequest } from './upgrade-request.js';

/** The settings every connection server of a node shares: plain data, so a worker gets a copy. */
export interface ConnectionSettings {
  codec: CodecKind;
  utf8Validator: Utf8ValidatorChoice;
  maxPayload: number;
  subprotocols: readonly string[];
  /** permessage-deflate (RFC 7692) when the server compresses; undefined: off. */
  deflate: DeflateSettings | undefined;
  /** Allowed `Origin` values; empty allows any origin. */
  origins: readonly string[];
  /** Time from TCP accept to a finished handshake. */
  handshakeTimeoutMs: number;
  /** Request header bytes above which the handshake gets 431. */
  maxHeaderBytes: number;
  closeTimeoutMs: number;
  highWaterMark: number;
  slowSubscriberBytes: number;
  slowPolicy: SlowSubscriberPolicy;
}

/** What a connection server asks of the node it belongs to. */
export interface NodeServices {
  /** Set when the server has an `authorize` hook: runs it wherever it lives. */
  authorize?: (request: UpgradeRequest) => Promise<AuthorizeVerdict>;
  /** The whole node's state, for GET /healthz. */
  health(): Promise<Record<string, unknown>>;
  /** A socket handed to this server is closed. */
  socketClosed(id: number): void;
  /** An application handler threw; its connection is closing with 1011. */
  onError(error: Error, connectionId: number): void;
}

/** One thread's counters, summed over the node by the main thread. */
export interface ThreadStats {
  /** Open WebSocket connections. */
  connections: number;
  /** Bytes queued on this thread's sockets and not yet written. */
  bufferedAmount: number;
  subscriptions: number;
  pubsub: BrokerStats;
}

export class ConnectionServer {
  readonly broker: Broker;
  readonly #settings: ConnectionSettings;
  readonly #app: Application;
  readonly #codec: FrameCodec;
  readonly #services: NodeServices;
  readonly #http: Server;
  readonly #sessions = new Map<number, Session>();
  /** Sockets not upgraded (yet), with their handshake deadline. */
  readonly #handshaking = new Map<Socket, NodeJS.Timeout>();
  #closing = false;

  constructor(settings: ConnectionSettings, app: Application, codec: FrameCodec, services: NodeServices, backplane?: Backplane) {
    this.#settings = settings;
    this.#app = app;
    this.#codec = codec;
    this.#services = services;
    this.broker = new Broker({
      codec, slowSubscriberBytes: settings.slowSubscriberBytes, slowPolicy: settings.slowPolicy, compressor: settings.deflate,
    });
    if (backplane !== undefined) this.broker.attachBackplane(backplane);
    // Never listening: sockets come from adopt(). Node's own HTTP parser reads the request.
    this.#http = createServer({ maxHeaderSize: settings.maxHeaderBytes });
    this.#http.on('request', (request: IncomingMessage, response: ServerResponse) => {
      answerHttp(request, response, { handshakeOptions: this.#handshakeOptions(), health: () => services.health() });
    });
    this.#http.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => void this.#upgrade(request, socket, head));
    this.#http.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => answerClientError(error, socket));
  }

  /**
   * Takes a freshly accepted socket (paused, nothing read) and serves it from its first byte.
   * `id` is its connection id, unique in the process.
   */
  adopt(socket: Socket, id: number): void {
    socket.once('close', () => {
      this.#clearDeadline(socket);
      this.#services.socketClosed(id);
    });
    connectionIds.set(socket, id);
    // RFC 6455 §4.1 leaves the handshake's duration to the server: ours is bounded from accept.
    const deadline = setTimeout(() => {
      this.#handshaking.delete(socket);
      socket.destroy();
    }, this.#settings.handshakeTimeoutMs);
    deadline.unref();
    this.#handshaking.set(socket, deadline);
    this.#http.emit('connection', socket);
    socket.resume();
  }

  stats(): ThreadStats {
    let bufferedAmount = 0;
    for (const session of this.#sessions.values()) bufferedAmount += session.link.bufferedAmount;
    return {
      connections: this.#sessions.size,
      bufferedAmount,
      subscriptions: this.broker.subscriptionCount,
      pubsub: { ...this.broker.stats },
    };
  }

  /**
   * Closes every connection with `code` and waits for them (at most `timeoutMs`, then drops
   * what is left); sockets still in their handshake are dropped, later upgrades get 503.
   */
  async close(code: number, reason: string, timeoutMs = this.#settings.closeTimeoutMs): Promise<void> {
    this.#closing = true;
    for (const socket of [...this.#handshaking.keys()]) socket.destroy();
    const finished = [...this.#sessions.values()].map((session) => { session.close(code, reason); return session.link.closed; });
    const deadline = setTimeout(() => { for (const session of this.#sessions.values()) session.link.terminate(); }, timeoutMs);
    await Promise.all(finished);
    clearTimeout(deadline);
  }

  #handshakeOptions() {
    return { subprotocols: this.#settings.subprotocols, origins: this.#settings.origins, deflate: this.#settings.deflate };
  }

  #clearDeadline(socket: Socket): void {
    clearTimeout(this.#handshaking.get(socket));
    this.#handshaking.delete(socket);
  }

  async #upgrade(request: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    try {
      if (this.#closing) throw new HandshakeError(503, 'server shutting down');
      const accepted = validateUpgrade(request, this.#handshakeOptions());
      const authorize = this.#services.authorize;
      if (authorize !== undefined) enforceVerdict(await authorize(upgradeRequestOf(request)));
      if (socket.destroyed) return; // the deadline passed while authorizing
      if (this.#closing) throw new HandshakeError(503, 'server shutting down');
      // Past the handshake: no deadline any more, and no timer kept alive per idle connection.
      this.#clearDeadline(socket);
      socket.write(accepted.response);
      this.#startSession(socket, accepted, head);
    } catch (error) {
      const refusal = error instanceof HandshakeError ? error : new HandshakeError(500, 'handshake failed');
      if (!(error instanceof HandshakeError)) this.#services.onError(error as Error, connectionIds.get(socket) ?? 0);
      if (!socket.destroyed) socket.end(rejectionResponse(refusal));
    }
  }

  #startSession(socket: Socket, accepted: HandshakeAccept, head: Buffer): void {
    const id = connectionIds.get(socket) ?? 0;
    const link = new SocketLink(socket, {
      highWaterMark: this.#settings.highWaterMark,
      closeTimeoutMs: this.#settings.closeTimeoutMs,
      onClosed: () => {
        this.#sessions.delete(id);
        this.broker.removeSubscriber(session);
      },
    });
    const { deflate: negotiated } = accepted;
    const session = new Session(id, link, negotiated);
    this.#sessions.set(id, session);
    const compressor = this.#settings.deflate;
    const conn = new AppConnection(this.#codec, this.#app, new SessionTransport(session, this.broker), {
      id, subprotocol: accepted.protocol, maxPayload: this.#settings.maxPayload, utf8Validator: this.#settings.utf8Validator,
      deflate: negotiated === undefined || compressor === undefined ? undefined : { negotiated, compressor },
      onError: (error) => this.#services.onError(error, id),
    });
    link.attach(conn);
    session.attach(conn);
    // Bytes that came in the same packet as the request are the connection's first input.
    conn.start(head);
  }
}

/** Connection ids of the sockets this thread owns. */
const connectionIds = new WeakMap<Socket, number>();
