/**
 * Servers the load generator is tested against: the `ws` package's echo server, a tiny `ws`-based
 * pub/sub server speaking the broadcast scenario's JSON, an HTTP server that refuses the upgrade,
 * and a server that answers 101 and then breaks RFC 6455 (a masked server frame).
 */
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { parseLoadArgs, type LoadOptions } from '../../src/load/args.js';

export interface TestServer {
  url: string;
  close(): Promise<void>;
}

/** Load options for `url` plus extra flags, bounded to a short run. */
export function loadOptions(url: string, ...flags: string[]): LoadOptions {
  return parseLoadArgs([url, '--duration', '1', ...flags]);
}

async function startWss(onConnection: (ws: WebSocket, wss: WebSocketServer) => void): Promise<TestServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  wss.on('connection', (ws) => onConnection(ws, wss));
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/`,
    close: () => new Promise((resolve) => {
      for (const client of wss.clients) client.terminate();
      wss.close(() => resolve());
    }),
  };
}

export function startWsEcho(): Promise<TestServer> {
  return startWss((ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
}

/** What a faulty server did on purpose: the load generator must count exactly this. */
export interface Faults {
  deliveries: number;
  dropped: number;
  duplicated: number;
  reordered: number;
}

/**
 * Every Nth delivery (counted over all subscribers) dropped, sent twice, or held back and sent
 * after the subscriber's next one (reordered; one still held 20 ms later goes out in order).
 */
export interface FaultPlan {
  dropEvery?: number;
  duplicateEvery?: number;
  swapEvery?: number;
  /** Never answers a subscribe (by default it answers {"type":"subscribed"}, as our pubsub app does). */
  silentSubscribe?: boolean;
  /** A subscription takes effect (and is answered) this long after it was asked for: a busy server. */
  subscribeDelayMs?: number;
}

const HELD_MS = 20;

/** subscribe / subscribed / publish / message, as src/load/pubsub-format.ts speaks it; publishers get nothing back. */
export function startWsPubsub(plan: FaultPlan = {}): Promise<TestServer & { faults: Faults }> {
  const faults: Faults = { deliveries: 0, dropped: 0, duplicated: 0, reordered: 0 };
  const held = new Map<WebSocket, { message: string; timer: NodeJS.Timeout }>();
  const every = (n: number | undefined, k: number) => n !== undefined && k % n === n - 1;
  const deliver = (subscriber: WebSocket, message: string) => {
    const k = faults.deliveries++;
    if (every(plan.dropEvery, k)) {
      faults.dropped++;
      return;
    }
    const waiting = held.get(subscriber);
    if (waiting === undefined && every(plan.swapEvery, k)) {
      held.set(subscriber, { message, timer: setTimeout(() => {
        held.delete(subscriber);
        subscriber.send(message);
      }, HELD_MS) });
      return;
    }
    subscriber.send(message);
    if (every(plan.duplicateEvery, k)) {
      faults.duplicated++;
      subscriber.send(message);
    }
    if (waiting !== undefined) {
      clearTimeout(waiting.timer);
      held.delete(subscriber);
      faults.reordered++;
      subscriber.send(waiting.message);
    }
  };
  const topics = new Map<string, Set<WebSocket>>();
  return startWss((ws) => {
    ws.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as { type: string; topic: string; data?: string };
      if (message.type === 'subscribe') {
        const subscribe = () => {
          if (ws.readyState !== ws.OPEN) return;
          if (!topics.has(message.topic)) topics.set(message.topic, new Set());
          topics.get(message.topic)!.add(ws);
          ws.once('close', () => topics.get(message.topic)?.delete(ws));
          if (plan.silentSubscribe !== true) ws.send(JSON.stringify({ type: 'subscribed', topic: message.topic }));
        };
        if (plan.subscribeDelayMs === undefined) subscribe();
        else setTimeout(subscribe, plan.subscribeDelayMs);
      } else if (message.type === 'publish') {
        const delivery = JSON.stringify({ type: 'message', topic: message.topic, data: message.data });
        for (const subscriber of topics.get(message.topic) ?? []) deliver(subscriber, delivery);
      }
    });
  }).then((server) => ({ ...server, faults }));
}

/** An echo server that drops every Nth message (counted over all connections). */
export function startDroppingEcho(dropEvery: number): Promise<TestServer & { faults: Faults }> {
  const faults: Faults = { deliveries: 0, dropped: 0, duplicated: 0, reordered: 0 };
  return startWss((ws) => ws.on('message', (data, isBinary) => {
    if (faults.deliveries++ % dropEvery === dropEvery - 1) faults.dropped++;
    else ws.send(data, { binary: isBinary });
  })).then((server) => ({ ...server, faults }));
}

/** Answers every message with the pub/sub app's error for text that is not JSON. */
export function startJsonErrorServer(): Promise<TestServer> {
  return startWss((ws) => ws.on('message', () => ws.send('{"type":"error","code":"bad_json","message":"message is not valid JSON"}')));
}

async function startHttp(onUpgrade: (socket: Socket, key: string) => void): Promise<TestServer> {
  const server: Server = createServer((_request, response) => response.end('no'));
  server.on('upgrade', (request, socket: Socket) => onUpgrade(socket, String(request.headers['sec-websocket-key'])));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Answers every upgrade with `status`. */
export function startRefusingServer(status: number): Promise<TestServer> {
  return startHttp((socket) => socket.end(`HTTP/1.1 ${status} Refused\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`));
}

/** Completes the handshake, then sends a masked text frame: RFC 6455 §5.1 forbids that of a server. */
export function startMaskingServer(): Promise<TestServer> {
  return startHttp((socket, key) => {
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.on('error', () => socket.destroy());
    socket.on('data', () => {}); // read the client's close frame
    socket.on('end', () => socket.end());
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    socket.write(Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]));
  });
}

/** A port on which nothing listens (it was free a moment ago). */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A JSON-RPC 2.0 server with one method, sum(a, b); anything else gets a JSON-RPC error. */
export function startJsonRpc(): Promise<TestServer> {
  return startWss((ws) => {
    ws.on('message', (raw) => {
      let call: { id?: unknown; method?: unknown; params?: unknown };
      try {
        call = JSON.parse(String(raw)) as typeof call;
      } catch {
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }));
        return;
      }
      const params = call.params;
      if (call.method !== 'sum' || !Array.isArray(params)) {
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: call.id ?? null, error: { code: -32601, message: 'Method not found' } }));
        return;
      }
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: call.id, result: (params as number[]).reduce((sum, n) => sum + n, 0) }));
    });
  });
}

/**
 * An echo server that accepts the first `accepted` handshakes; the later ones are answered with
 * 503 (`refuse`), or never answered (`hang`).
 */
export async function startEchoAcceptingFirst(accepted: number, then: 'refuse' | 'hang' = 'refuse'): Promise<TestServer> {
  let count = 0;
  // Our own HTTP server, so that close() can destroy the sockets left hanging in their handshake.
  const http = createServer();
  const sockets = new Set<Socket>();
  http.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const wss = new WebSocketServer({
    server: http, perMessageDeflate: false,
    verifyClient: (_info, done) => {
      if (count++ < accepted) done(true);
      else if (then === 'refuse') done(false, 503);
    },
  });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  return {
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      wss.close();
      http.close(() => resolve());
    }),
  };
}
