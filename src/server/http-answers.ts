/**
 * Answers to plain HTTP on the WebSocket port: /healthz, the application's pages (its `httpGet`
 * hook), a failed attempt at an upgrade, and malformed requests.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { duplicateHostError, validateUpgrade, rejectionResponse, type HandshakeOptions } from '../handshake/handshake.js';
import { HandshakeError } from '../protocol/errors.js';
import type { HttpPage } from '../apps/app.js';

export interface HttpContext {
  handshakeOptions: HandshakeOptions;
  /** The node's state; asked of the main thread when this runs in a worker. */
  health: () => Promise<Record<string, unknown>>;
  /** The application's page for a path (its `httpGet` hook), undefined for none; may throw. */
  page: (path: string) => HttpPage | undefined;
  /** The page hook threw: reported like an application error. */
  onError: (error: Error) => void;
}

/** The path of a request target, without its query. */
export function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  const query = target.indexOf('?');
  return query < 0 ? target : target.slice(0, query);
}

export function answerHttp(request: IncomingMessage, response: ServerResponse, context: HttpContext): void {
  const hostError = duplicateHostError(request);
  if (hostError !== undefined) {
    response.writeHead(hostError.status, { 'Content-Type': 'text/plain', 'Connection': 'close' });
    response.end(`${hostError.reason}\n`);
    return;
  }
  // A request that tried to upgrade but was not recognised as one (say, no `Connection: Upgrade`)
  // gets the handshake's own answer instead of a page.
  if (request.headers.upgrade !== undefined || request.headers['sec-websocket-key'] !== undefined) {
    let error: HandshakeError;
    try {
      validateUpgrade(request, context.handshakeOptions);
      error = new HandshakeError(400, 'Connection header must contain "Upgrade"');
    } catch (caught) {
      error = caught instanceof HandshakeError ? caught : new HandshakeError(400, String(caught));
    }
    response.writeHead(error.status, { 'Content-Type': 'text/plain', 'Connection': 'close', ...error.headers });
    response.end(`${error.reason}\n`);
    return;
  }
  const path = pathOf(request.url);
  if (request.method === 'GET' && path === '/healthz') {
    context.health().then((health) => {
      response.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      response.end(JSON.stringify(health) + '\n');
    }, () => {
      response.writeHead(503, { 'Content-Type': 'text/plain' });
      response.end('health unavailable\n');
    });
    return;
  }
  if (request.method === 'GET') {
    let page: HttpPage | undefined;
    try {
      page = context.page(path);
    } catch (error) {
      context.onError(error as Error);
      response.writeHead(500, { 'Content-Type': 'text/plain' });
      response.end('internal error\n');
      return;
    }
    if (page !== undefined) {
      response.writeHead(200, { ...page.headers, 'Content-Type': page.contentType });
      response.end(page.body);
      return;
    }
  }
  response.writeHead(404, { 'Content-Type': 'text/plain' });
  response.end('not found\n');
}

/** Malformed HTTP before the handshake: 431 for oversized headers, 400 for the rest. */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
  const body = tooLarge ? 'request headers too large\n' : 'malformed HTTP request\n';
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
}

/** Why the main thread answers a connection itself, and the status /healthz gets meanwhile. */
export interface MainThreadRefusal {
  status: number;
  reason: string;
  /** 503 while no worker runs; 200 when the node is up but this connection is over a limit. */
  healthStatus: number;
}

/**
 * The main thread's answers to connections it hands to no worker: none runs (all crashed and
 * waiting to restart), or admission refused the connection (503 at the connection limit, 429
 * per address). An upgrade or any other request gets the refusal; GET /healthz still gets the
 * node's state, so a health check works at the limit. The request is read first: a socket
 * closed with unread bytes sends RST, and the client would see a reset instead of the answer.
 */
export class MainThreadAnswers {
  readonly #http: Server;
  readonly #refusals = new WeakMap<Socket, MainThreadRefusal>();

  constructor(health: () => Promise<Record<string, unknown>>) {
    const http = createServer();
    http.on('request', (request: IncomingMessage, response: ServerResponse) => {
      const refusal = this.#refusals.get(request.socket)!;
      const path = pathOf(request.url);
      if (request.method === 'GET' && path === '/healthz') {
        health().then((state) => {
          response.writeHead(refusal.healthStatus, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Connection': 'close' });
          const status = refusal.healthStatus === 200 ? state.status : 'unavailable';
          response.end(JSON.stringify({ ...state, status }) + '\n');
        }, () => response.writeHead(503).end());
        return;
      }
      response.writeHead(refusal.status, { 'Content-Type': 'text/plain', 'Connection': 'close' });
      response.end(`${refusal.reason}\n`);
    });
    http.on('upgrade', (_request: IncomingMessage, socket: Socket) => {
      socket.on('error', () => socket.destroy());
      const refusal = this.#refusals.get(socket)!;
      socket.end(rejectionResponse(new HandshakeError(refusal.status, refusal.reason)));
    });
    http.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => answerClientError(error, socket));
    this.#http = http;
  }

  /**
   * Answers a freshly accepted (paused) socket with `refusal`, then closes it; on a wss:// port
   * (`secureContext`) over TLS, so that the client can read the answer.
   */
  answer(socket: Socket, refusal: MainThreadRefusal, secureContext?: SecureContext): void {
    // Refused connections hold no slot for long: a client that sends nothing is dropped.
    setTimeout(() => socket.destroy(), 10_000).unref();
    const connection = secureContext === undefined ? socket : new TLSSocket(socket, { isServer: true, secureContext });
    connection.on('error', () => connection.destroy());
    this.#refusals.set(connection, refusal);
    this.#http.emit('connection', connection);
    socket.resume();
  }

  close(): void {
    this.#http.closeAllConnections();
  }
}
