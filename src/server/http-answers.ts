/**
 * Answers to plain HTTP on the WebSocket port: the pub/sub page, /healthz, a failed attempt at
 * an upgrade, and malformed requests.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { validateUpgrade, rejectionResponse, type HandshakeOptions } from '../handshake/handshake.js';
import { HandshakeError } from '../protocol/errors.js';
import { pubsubPage } from '../pubsub/page.js';

export interface HttpContext {
  handshakeOptions: HandshakeOptions;
  /** The node's state; asked of the main thread when this runs in a worker. */
  health: () => Promise<Record<string, unknown>>;
}

export function answerHttp(request: IncomingMessage, response: ServerResponse, context: HttpContext): void {
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
  const path = (request.url ?? '/').split('?')[0];
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
  if (request.method === 'GET' && (path === '/' || path === '/index.html')) {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end(pubsubPage());
    return;
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

/**
 * The main thread's answers while no worker runs (all crashed and waiting to restart): an
 * upgrade gets 503, GET /healthz the node's state with 503, anything else 503. Reading the
 * request first matters: a socket closed with unread bytes sends RST, not the answer.
 */
export function createUnavailableAnswers(health: () => Promise<Record<string, unknown>>): Server {
  const http = createServer();
  const reason = 'no worker is running; try again later';
  http.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method === 'GET' && path === '/healthz') {
      health().then((state) => {
        response.writeHead(503, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Connection': 'close' });
        response.end(JSON.stringify({ ...state, status: 'unavailable' }) + '\n');
      }, () => response.writeHead(503).end());
      return;
    }
    response.writeHead(503, { 'Content-Type': 'text/plain', 'Connection': 'close' });
    response.end(`${reason}\n`);
  });
  http.on('upgrade', (_request: IncomingMessage, socket: Socket) => {
    socket.on('error', () => socket.destroy());
    socket.end(rejectionResponse(new HandshakeError(503, reason)));
  });
  http.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => answerClientError(error, socket));
  return http;
}
