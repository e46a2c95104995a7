/**
 * The main-thread server: listens, answers plain HTTP, performs the opening handshake and hands
 * each upgraded socket to a SocketConnection running the application inline.
 */
import { createServer, IncomingMessage, ServerResponse, Server, STATUS_CODES } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { CodecKind, FrameCodec } from '../codec/codec.js';
import { createCodec } from '../codec/select.js';
import { validateUpgrade, rejectionResponse } from '../handshake/handshake.js';
import { HandshakeError } from '../protocol/errors.js';
import { CloseCode } from '../protocol/close-codes.js';
import { loadApplication, type Application, type Connection } from '../apps/app.js';
import { SocketConnection } from './socket-io.js';

/** Answer of the `authorize` hook: true accepts, false refuses with 401, or a chosen status. */
export type AuthorizeResult = boolean | { status: number; reason?: string };

export interface ServerOptions {
  host?: string;
  port?: number;
  /** `echo`, `pubsub`, a module path, or an application object. */
  app?: string | Application;
  codec?: CodecKind;
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
  /** Reports application exceptions and other per-connection failures. */
  onError?: (error: Error) => void;
}

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  app: 'echo',
  codec: 'wasm' as CodecKind,
  maxPayload: 16 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  maxHeaderBytes: 16 * 1024,
  closeTimeoutMs: 5_000,
  highWaterMark: 1024 * 1024,
};

export class WasmSocketServer {
  readonly codec: FrameCodec;
  readonly #http: Server;
  readonly #app: Application;
  readonly #options: Required<Omit<ServerOptions, 'authorize' | 'onError' | 'app'>> & Pick<ServerOptions, 'authorize' | 'onError'>;
  readonly #connections = new Set<SocketConnection>();
  #nextId = 1;
  #closing = false;

  constructor(app: Application, options: ServerOptions) {
    this.#app = app;
    this.#options = {
      host: options.host ?? DEFAULTS.host,
      port: options.port ?? DEFAULTS.port,
      codec: options.codec ?? DEFAULTS.codec,
      maxPayload: options.maxPayload ?? DEFAULTS.maxPayload,
      subprotocols: options.subprotocols ?? [],
      origins: options.origins ?? [],
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs,
      maxHeaderBytes: options.maxHeaderBytes ?? DEFAULTS.maxHeaderBytes,
      closeTimeoutMs: options.closeTimeoutMs ?? DEFAULTS.closeTimeoutMs,
      highWaterMark: options.highWaterMark ?? DEFAULTS.highWaterMark,
      authorize: options.authorize,
      onError: options.onError,
    };
    this.codec = createCodec(this.#options.codec);
    this.#http = createServer({ maxHeaderSize: this.#options.maxHeaderBytes });
    this.#http.on('connection', (socket: Socket) => this.#armHandshakeDeadline(socket));
    this.#http.on('request', (request: IncomingMessage, response: ServerResponse) => this.#answerHttp(request, response));
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
    return this.#connections.size;
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
    const finished = [...this.#connections].map((conn) => { conn.close(code, reason); return conn.closed; });
    const deadline = setTimeout(() => { for (const conn of this.#connections) conn.terminate(); }, this.#options.closeTimeoutMs);
    await Promise.all(finished);
    clearTimeout(deadline);
    this.#http.closeAllConnections();
    await listenerClosed;
  }

  /** RFC 6455 §4.1 leaves the handshake's duration to the server: ours is bounded. */
  #armHandshakeDeadline(socket: Socket): void {
    const timer = setTimeout(() => {
      if (!upgradedSockets.has(socket)) socket.destroy();
    }, this.#options.handshakeTimeoutMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }

  #answerHttp(request: IncomingMessage, response: ServerResponse): void {
    // A request that tried to upgrade but was not recognised as one (say, no `Connection: Upgrade`)
    // gets the handshake's own answer instead of a page.
    if (request.headers.upgrade !== undefined || request.headers['sec-websocket-key'] !== undefined) {
      let error: HandshakeError;
      try {
        validateUpgrade(request, this.#handshakeOptions());
        error = new HandshakeError(400, 'Connection header must contain "Upgrade"');
      } catch (caught) {
        error = caught instanceof HandshakeError ? caught : new HandshakeError(400, String(caught));
      }
      response.writeHead(error.status, { 'Content-Type': 'text/plain', 'Connection': 'close', ...error.headers });
      response.end(`${error.reason}\n`);
      return;
    }
    if (request.method === 'GET' && (request.url === '/' || request.url === '/healthz')) {
      const body = request.url === '/healthz'
        ? JSON.stringify({ status: 'ok', connections: this.#connections.size }) + '\n'
        : 'wasmsocket: a WebSocket server. Connect with a WebSocket client to this URL.\n';
      response.writeHead(200, { 'Content-Type': request.url === '/healthz' ? 'application/json' : 'text/plain' });
      response.end(body);
      return;
    }
    response.writeHead(404, { 'Content-Type': 'text/plain' });
    response.end('not found\n');
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
      upgradedSockets.add(socket);
      socket.write(accepted.response);
      const conn = new SocketConnection(socket, this.codec, this.#app, {
        id: this.#nextId++,
        subprotocol: accepted.protocol,
        maxPayload: this.#options.maxPayload,
        highWaterMark: this.#options.highWaterMark,
        closeTimeoutMs: this.#options.closeTimeoutMs,
        onError: (error) => this.#options.onError?.(error),
      });
      this.#connections.add(conn);
      void conn.closed.then(() => this.#connections.delete(conn));
      // Bytes that came in the same packet as the request are the connection's first input.
      conn.start(head);
    } catch (error) {
      const refusal = error instanceof HandshakeError ? error : new HandshakeError(500, 'handshake failed');
      if (!(error instanceof HandshakeError)) this.#options.onError?.(error as Error);
      if (!socket.destroyed) socket.end(rejectionResponse(refusal));
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

/** Sockets past the handshake: the handshake deadline no longer applies to them. */
const upgradedSockets = new WeakSet<Socket>();

/** Malformed HTTP before the handshake: 431 for oversized headers, 400 for the rest. */
function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
  const body = tooLarge ? 'request headers too large\n' : 'malformed HTTP request\n';
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
}

/** Creates a server, loads its application and starts listening. */
export async function listen(options: ServerOptions = {}): Promise<WasmSocketServer> {
  const app = typeof options.app === 'object' ? options.app : await loadApplication(options.app ?? DEFAULTS.app);
  const server = new WasmSocketServer(app, options);
  await server.listen();
  return server;
}

export type { Connection, Application };
