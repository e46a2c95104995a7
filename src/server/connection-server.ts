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
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import type { FrameCodec } from '../codec/codec.js';
import { validateUpgrade, rejectionResponse, type HandshakeAccept } from '../handshake/handshake.js';
import { HandshakeError } from '../protocol/errors.js';
import type { Application, Connection } from '../apps/app.js';
import { CloseCode } from '../protocol/close-codes.js';
import { Broker, type Backplane, type BrokerStats, type SlowSubscriberPolicy } from '../pubsub/broker.js';
import { TopicPermissions } from '../pubsub/permissions.js';
import { destroyOnError, type SocketLinkOptions } from './socket-io.js';
import { answerHttp, answerClientError, pathOf } from './http-answers.js';
import { responsesWritten, trackResponse } from './pipelined-responses.js';
import { Connection as ServerConnection, sweepClock, type ConnectionHost } from './connection.js';
import { SendBudget, type SendBudgetStats } from './send-budget.js';
import { enforceVerdict, runAuthorizeHook, upgradeRequestOf, type AuthorizeVerdict, type UpgradeRequest } from './upgrade-request.js';
import { idleCollectionStats, noteConnectionChurn, noteMemoryBurst, type IdleCollectionStats } from './idle-collector.js';
import { InflateBudget, type InflateBudgetStats } from '../protocol/inflate-budget.js';
import { threadMemory, type ThreadMemory } from './thread-memory.js';
import { noteHandshake, noteHandshakeRefused, trafficStats, type TrafficStats } from '../metrics/thread-traffic.js';
import { eventLoopDelay } from '../metrics/event-loop-delay.js';
import type { BucketCounts } from '../metrics/bucket-counts.js';
import type { LogSink } from '../logging/logger.js';
import { performance } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';
import type { ConnectionSettings } from './options.js';
import type { TlsCertificate } from './certificate.js';

export type { ConnectionSettings, TlsCertificate };

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
  /** Where this thread's operational events go (the main thread's logger). */
  log: LogSink;
}

/** One thread's counters, summed over the node by the main thread. */
export interface ThreadStats {
  /** Open WebSocket connections. */
  connections: number;
  /**
   * Bytes this thread's send queues hold: a broadcast frame once however many queues hold it,
   * each queued write's bookkeeping included (send-budget.ts).
   */
  bufferedAmount: number;
  subscriptions: number;
  pubsub: BrokerStats;
  buffers: SendBudgetStats;
  /** This thread's collections after connection storms (idle-collector.ts). */
  idleCollections: IdleCollectionStats;
  /** Application handlers that threw or whose promise rejected (each closed its connection with 1011). */
  applicationErrors: number;
  /** Compressed messages being inflated: this thread's budget (inflate-budget.ts). */
  inflate: InflateBudgetStats;
  /** This thread's heap and its memory outside the heap (Buffers the application keeps). */
  memory: ThreadMemory;
  /** Messages, bytes and handshakes this thread's connections carried (metrics/thread-traffic.ts). */
  traffic: TrafficStats;
  /** How late this thread's event loop ran; null unless metrics are served. */
  eventLoopDelay: BucketCounts | null;
  /** The thread's id: a replaced worker's successor has another. */
  threadId: number;
}

export class ConnectionServer {
  readonly broker: Broker;
  readonly #settings: ConnectionSettings;
  readonly #app: Application;
  readonly #services: NodeServices;
  readonly #http: Server;
  readonly #connections = new Map<number, ServerConnection>();
  /** Sockets not upgraded (yet), with their handshake deadline. */
  readonly #handshaking = new Map<Socket, NodeJS.Timeout>();
  #closing = false;
  readonly #sweep: NodeJS.Timeout | undefined;
  #secureContext: SecureContext | undefined;
  readonly #budget: SendBudget;
  /** What every connection of this server shares (no closure or options object per connection). */
  readonly #host: ConnectionHost;
  /** Listeners made once per server; a socket's events call them with `this` = the socket. */
  readonly #onSocketClose: (this: Socket) => void;
  readonly #onSecureClose: (this: Socket) => void;
  #applicationErrors = 0;
  readonly #inflateBudget: InflateBudget;
  /** Connections shed for the thread's send queues and not logged yet, and when a line last went out. */
  #shedUnlogged = 0;
  #shedLoggedAt = -Infinity;
  #shedTimer: NodeJS.Timeout | undefined;

  constructor(settings: ConnectionSettings, app: Application, codec: FrameCodec, services: NodeServices, backplane?: Backplane) {
    this.#settings = settings;
    this.#app = app;
    this.#services = services;
    if (settings.tls !== undefined) this.setCertificate(settings.tls);
    this.#budget = new SendBudget(settings.maxBufferedBytes, () => this.#connections.values(), () => this.#connections.size,
      (connections) => this.#connectionsShed(connections));
    this.#inflateBudget = new InflateBudget(settings.maxInflateBytes, () => noteMemoryBurst(settings.idleCollectAfter));
    this.broker = new Broker({
      codec, slowSubscriberBytes: settings.slowSubscriberBytes, slowPolicy: settings.slowPolicy, compressor: settings.deflate,
      maxSubscriptions: settings.maxSubscriptions, maxTotalSubscriptions: settings.maxTotalSubscriptions,
      maxSubscriptionsPerIp: settings.maxSubscriptionsPerIp,
    }, settings.maxBufferedBytes > 0 ? this.#budget : undefined);
    const { highWaterMark, maxPayload, closeTimeoutMs } = settings;
    const linkOptions: SocketLinkOptions = { highWaterMark, sendQueueLimit: highWaterMark + maxPayload + FRAMING_SLACK, closeTimeoutMs, budget: this.#budget, spareQueues: [] };
    const connections = this.#connections, broker = this.broker, { idleCollectAfter } = settings;
    // Every connection's TCP close is reported here once, whichever listener saw it.
    const socketClosed = (id: number): void => {
      noteConnectionChurn(idleCollectAfter);
      services.socketClosed(id);
    };
    const server = this;
    this.#host = {
      app, codec, broker, linkOptions, maxPayload,
      permissions: new TopicPermissions<Connection>(settings.topicsPublic, app, broker.stats),
      budget: this.#budget,
      utf8Validator: settings.utf8Validator,
      messageView: settings.messageView || app.messageView === true,
      compressor: settings.deflate,
      inflateBudget: this.#inflateBudget,
      handlerFailed(error, conn) {
        server.#applicationErrors++;
        services.onError(error, conn.id);
      },
      connectionClosed(conn) {
        connections.delete(conn.id);
        broker.removeSubscriber(conn);
        if (conn.reportsClose) socketClosed(conn.id);
      },
    };
    this.#onSocketClose = function () {
      server.#clearDeadline(this);
      const id = connectionIds.get(this);
      if (id !== undefined) socketClosed(id);
    };
    this.#onSecureClose = function () {
      server.#clearDeadline(this);
    };
    if (backplane !== undefined) this.broker.attachBackplane(backplane);
    // Never listening: sockets come from adopt(). Node's own HTTP parser reads the request.
    this.#http = createServer({ maxHeaderSize: settings.maxHeaderBytes });
    this.#http.on('request', (request: IncomingMessage, response: ServerResponse) => {
      trackResponse(request.socket, response);
      answerHttp(request, response, {
        handshakeOptions: this.#handshakeOptions(), health: () => services.health(),
        page: (path) => app.httpGet?.(path), onError: (error) => this.#reportError(error, request.socket as Socket),
      });
    });
    this.#http.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => void this.#upgrade(request, socket, head));
    this.#http.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => answerClientError(error, socket));
    const { pingIntervalMs, pingTimeoutMs, idleTimeoutMs } = settings;
    const periods = [...(pingIntervalMs > 0 ? [pingIntervalMs, pingTimeoutMs] : []), ...(idleTimeoutMs > 0 ? [idleTimeoutMs] : [])];
    if (periods.length > 0) {
      // One timer per thread, none per connection: each sweep looks at every connection once,
      // and a silence is seen at most half its shortest period late.
      this.#sweep = setInterval(() => this.#sweepConnections(sweepClock()), Math.max(50, Math.min(...periods) / 2));
      this.#sweep.unref();
    }
  }

  /**
   * Takes a freshly accepted socket (paused, nothing read) and serves it from its first byte.
   * `id` is its connection id, unique in the process.
   */
  adopt(socket: Socket, id: number): void {
    // The kernel's own check for a dead peer, beside the WebSocket heartbeat.
    socket.setKeepAlive(true, this.#settings.pingIntervalMs > 0 ? this.#settings.pingIntervalMs : DEFAULT_KEEPALIVE_MS);
    noteConnectionChurn(this.#settings.idleCollectAfter);
    connectionIds.set(socket, id);
    arrivedAt.set(socket, performance.now());
    socket.on('close', this.#onSocketClose);
    // RFC 6455 §4.1 leaves the handshake's duration to the server: ours is bounded from accept.
    let connection: Socket = socket; // the TLS socket once there is one
    const deadline = setTimeout(() => {
      this.#handshaking.delete(connection);
      connection.destroy();
    }, this.#settings.handshakeTimeoutMs);
    deadline.unref();
    this.#handshaking.set(socket, deadline);
    // The HTTP server takes one of its parsers (10 KiB of native memory each) as soon as it is
    // given a socket, so it is given each socket with its first bytes. Sockets accepted in a
    // storm and not read yet hold none: before, a worker handed 10 000 at once made 6 600
    // parsers, and their 66 MB, freed, stayed resident as holes in its malloc arena. A peer that
    // never sends a request costs no parser either.
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first); // the HTTP server, or the TLS socket, takes in what is buffered
      if (this.#secureContext === undefined) {
        this.#http.emit('connection', socket);
        socket.resume();
        return;
      }
      // wss://: the TLS handshake happens here, on the thread that owns the socket. The first
      // bytes tell a TLS client (a handshake record) from a plain one, who gets a clear answer.
      if (first[0] !== TLS_HANDSHAKE_RECORD) {
        socket.end(plainRequestOnTlsPort());
        return;
      }
      const secure = new TLSSocket(socket, { isServer: true, secureContext: this.#secureContext });
      destroyOnError(secure);
      // From here the TLS socket is the connection: the upgrade and the deadline see it.
      connection = secure;
      connectionIds.set(secure, id);
      arrivedAt.set(secure, arrivedAt.get(socket)!);
      this.#handshaking.set(secure, deadline);
      this.#handshaking.delete(socket);
      secure.on('close', this.#onSecureClose);
      this.#http.emit('connection', secure);
    });
    destroyOnError(socket);
    socket.resume();
  }

  /** New connections use this certificate from now on (connections already open keep theirs). */
  setCertificate(certificate: TlsCertificate): void {
    this.#secureContext = createSecureContext({ cert: certificate.cert, key: certificate.key });
  }

  /** Serves an upgrade that another HTTP server has parsed (its socket is past our deadline). */
  handleUpgrade(request: IncomingMessage, socket: Socket, head: Buffer, id: number): void {
    noteConnectionChurn(this.#settings.idleCollectAfter);
    connectionIds.set(socket, id);
    socket.on('close', this.#onSocketClose);
    void this.#upgrade(request, socket, head);
  }

  stats(): ThreadStats {
    this.#budget.settleAll();
    return {
      connections: this.#connections.size,
      bufferedAmount: this.#budget.queued,
      subscriptions: this.broker.subscriptionCount,
      pubsub: { ...this.broker.stats },
      buffers: { ...this.#budget.stats },
      idleCollections: idleCollectionStats(),
      applicationErrors: this.#applicationErrors,
      inflate: this.#inflateBudget.stats,
      memory: threadMemory(),
      traffic: trafficStats(),
      eventLoopDelay: eventLoopDelay(),
      threadId,
    };
  }

  /**
   * Open connections dropped for this thread's send queues: logged at most once per
   * SHED_LOG_INTERVAL_MS (a flood sheds at every turn), the count covering every drop since
   * the previous line.
   */
  #connectionsShed(connections: number): void {
    this.#shedUnlogged += connections;
    if (this.#shedTimer !== undefined) return;
    const wait = this.#shedLoggedAt + SHED_LOG_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this.#shedTimer = setTimeout(() => { this.#shedTimer = undefined; this.#logShed(); }, wait);
      this.#shedTimer.unref();
      return;
    }
    this.#logShed();
  }

  #logShed(): void {
    const connections = this.#shedUnlogged;
    const { maxBufferedBytes } = this.#settings;
    this.#shedUnlogged = 0;
    this.#shedLoggedAt = Date.now();
    this.#services.log({
      level: 'warn', event: 'connections_shed', fields: { connections, maxBufferedBytes },
      message: `${connections} connection(s) dropped: this thread's send queues together were past maxBufferedBytes (${maxBufferedBytes} bytes)`,
    });
  }

  /**
   * Closes every connection with `code` and waits for them (at most `timeoutMs`, then drops
   * what is left); sockets still in their handshake are dropped, later upgrades get 503.
   */
  async close(code: number, reason: string, timeoutMs = this.#settings.closeTimeoutMs): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweep);
    for (const socket of [...this.#handshaking.keys()]) socket.destroy();
    const finished = [...this.#connections.values()].map((conn) => { conn.close(code, reason); return conn.link.closed; });
    const deadline = setTimeout(() => { for (const conn of this.#connections.values()) conn.link.terminate(); }, timeoutMs);
    await Promise.all(finished);
    clearTimeout(deadline);
  }

  /**
   * The heartbeat: a connection that sent no bytes for the ping interval gets a ping; one that
   * still sends nothing for the ping timeout is a dead peer (a closed laptop sends no FIN), closed
   * with 1001 and its TCP dropped at once. With an idle timeout, a connection that sent no data
   * message for that long is closed with 1001 and the usual closing handshake.
   */
  #sweepConnections(now: number): void {
    const { pingIntervalMs, pingTimeoutMs, idleTimeoutMs } = this.#settings;
    for (const conn of this.#connections.values()) {
      const { link } = conn;
      if (link.readSinceSweep) {
        link.readSinceSweep = false;
        conn.heardAt = now;
        conn.pingedAt = 0;
      }
      if (conn.receivedMessage) {
        conn.receivedMessage = false;
        conn.messageAt = now;
      }
      if (idleTimeoutMs > 0 && now - conn.messageAt >= idleTimeoutMs) {
        conn.close(CloseCode.GOING_AWAY, 'idle timeout');
      } else if (pingIntervalMs > 0) {
        if (conn.pingedAt === 0) {
          if (now - conn.heardAt >= pingIntervalMs) {
            conn.ping();
            conn.pingedAt = now;
          }
        } else if (now - conn.pingedAt >= pingTimeoutMs) {
          conn.close(CloseCode.GOING_AWAY, 'ping timeout');
          link.end();
        }
      }
    }
  }

  #handshakeOptions() {
    return { subprotocols: this.#settings.subprotocols, origins: this.#settings.origins, deflate: this.#settings.deflate };
  }

  #clearDeadline(socket: Socket): void {
    clearTimeout(this.#handshaking.get(socket));
    this.#handshaking.delete(socket);
  }

  async #upgrade(request: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    destroyOnError(socket);
    const earlier = responsesWritten(socket);
    if (earlier !== undefined) {
      await earlier;
      // node:http set its keep-alive timer when that response finished: not ours to keep.
      socket.setTimeout(0);
    }
    try {
      if (this.#closing) throw new HandshakeError(503, 'server shutting down');
      const path = this.#settings.path;
      const requested = pathOf(request.url);
      // /healthz is plain HTTP, never a WebSocket endpoint, even when every path is.
      if ((path !== undefined && requested !== path) || requested === '/healthz') {
        throw new HandshakeError(404, `no WebSocket endpoint at ${requested}`);
      }
      const accepted = validateUpgrade(request, this.#handshakeOptions());
      const upgrade = upgradeRequestOf(request);
      const authorize = this.#services.authorize;
      let data = authorize === undefined ? undefined : enforceVerdict(await authorize(upgrade));
      const appUpgrade = this.#app.upgrade;
      if (appUpgrade !== undefined) {
        const own = enforceVerdict(await runAuthorizeHook((r) => appUpgrade.call(this.#app, r), upgrade, (error) => this.#reportError(error, socket)));
        if (own !== undefined) data = own;
      }
      if (socket.destroyed) return; // the deadline passed while authorizing
      if (this.#closing) throw new HandshakeError(503, 'server shutting down');
      // Past the handshake: no deadline any more, and no timer kept alive per idle connection.
      this.#clearDeadline(socket);
      socket.write(accepted.response);
      const arrived = arrivedAt.get(socket);
      if (arrived !== undefined) noteHandshake((performance.now() - arrived) / 1000);
      this.#startConnection(socket, accepted, head, upgrade, data);
    } catch (error) {
      const refusal = error instanceof HandshakeError ? error : new HandshakeError(500, 'handshake failed');
      noteHandshakeRefused(refusal.status);
      if (!(error instanceof HandshakeError)) this.#reportError(error as Error, socket);
      if (!socket.destroyed) socket.end(rejectionResponse(refusal));
    }
  }

  #reportError(error: Error, socket: Socket): void {
    this.#services.onError(error, connectionIds.get(socket) ?? 0);
  }

  #startConnection(socket: Socket, accepted: HandshakeAccept, head: Buffer, request: UpgradeRequest, data: unknown): void {
    const id = connectionIds.get(socket) ?? 0;
    // One 'close' listener per socket (an array of two costs more than the listeners): from here
    // the link's reports a plain socket's close; a TLS connection's, the socket under it.
    const reportsClose = socket.listeners('close').includes(this.#onSocketClose);
    socket.removeListener('close', reportsClose ? this.#onSocketClose : this.#onSecureClose);
    const conn = new ServerConnection(this.#host, socket, {
      id, request, data, subprotocol: accepted.protocol, negotiated: accepted.deflate, reportsClose, now: sweepClock(),
    });
    this.#connections.set(id, conn);
    conn.start(head);
  }
}

/** Room in a send queue's cap for frame headers and control frames beside the payloads. */
const FRAMING_SLACK = 1024;

/** The first byte of a TLS connection: a handshake record (RFC 8446 §5.1, content type 22). */
const TLS_HANDSHAKE_RECORD = 0x16;

function plainRequestOnTlsPort(): string {
  const body = 'this port speaks TLS: use wss:// (or https://)\n';
  return `HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

/** TCP keepalive probes start after this much idle time when the WebSocket heartbeat is off. */
const DEFAULT_KEEPALIVE_MS = 60_000;

/** Connection ids of the sockets this thread owns. */
const connectionIds = new WeakMap<Socket, number>();

/** When each socket reached this thread (performance.now()), for the handshake's duration. */
const arrivedAt = new WeakMap<Socket, number>();

/** At most one `connections_shed` line per thread this often. */
const SHED_LOG_INTERVAL_MS = 10_000;
