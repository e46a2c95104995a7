/**
 * The connection server on its own, as a worker or the inline server runs it: sockets accepted
 * by a test's net.Server (paused, nothing read) are handed to adopt(), and the node's services
 * (health, the close reports, the error reports, authorize) are the test's, so that what they
 * are told is what is checked. Real clients on loopback.
 */
import test from 'ava';
import { once } from 'node:events';
import { get } from 'node:http';
import net, { type Socket } from 'node:net';
import WebSocket from 'ws';
import { ConnectionServer, type NodeServices } from '../../src/server/connection-server.js';
import type { Application } from '../../src/apps/app.js';
import type { AuthorizeVerdict, UpgradeRequest } from '../../src/server/upgrade-request.js';
import { createCodec } from '../../src/codec/select.js';
import { connectionSettings } from '../helpers/connection-settings.js';
import type { ConnectionSettings } from '../../src/server/connection-server.js';
import { attemptUpgrade, closeCode, openClient, request } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait.js';

interface Served {
  port: number;
  server: ConnectionServer;
  /** Ids the server reported closed, in order. */
  closedIds: number[];
  errors: Array<[string, number]>;
}

const echo: Application = { message: (conn, data, isBinary) => { conn.send(data, isBinary); } };

async function serve(t: { teardown(fn: () => void): void }, app: Application, settings: Partial<ConnectionSettings> = {},
  authorize?: (request: UpgradeRequest) => Promise<AuthorizeVerdict>): Promise<Served> {
  const closedIds: number[] = [];
  const errors: Array<[string, number]> = [];
  const services: NodeServices = {
    authorize,
    health: async () => ({ status: 'ok', servedBy: 'the test' }),
    socketClosed: (id) => closedIds.push(id),
    onError: (error, id) => errors.push([error.message, id]),
    log: () => undefined,
  };
  const settingsUsed = connectionSettings(settings);
  const server = new ConnectionServer(settingsUsed, app, createCodec(settingsUsed.codec), services);
  let nextId = 100;
  const listener = net.createServer({ pauseOnConnect: true }, (socket: Socket) => server.adopt(socket, nextId++));
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.teardown(() => { listener.close(); void server.close(1001, 'test over', 100); });
  return { port: (listener.address() as net.AddressInfo).port, server, closedIds, errors };
}

function getText(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode!, body }));
    }).on('error', reject);
  });
}

test('a socket handed to adopt() is served from its first byte: /healthz is the node\'s health, an upgrade runs the application', async (t) => {
  const { port } = await serve(t, echo);
  const health = await getText(port, '/healthz');
  t.is(health.status, 200);
  t.is(JSON.parse(health.body).servedBy, 'the test');
  const ws = await openClient(port);
  t.is(await request(ws, 'hello'), 'hello');
  ws.close();
});

test('stats() counts open connections, and every socket handed over is reported closed once, upgraded or not', async (t) => {
  const { port, server, closedIds } = await serve(t, echo);
  const clients = await Promise.all([openClient(port), openClient(port), openClient(port)]);
  t.is(server.stats().connections, 3);
  await getText(port, '/healthz'); // a plain HTTP socket: handed over, never upgraded
  for (const ws of clients) ws.close();
  await waitFor(() => closedIds.length === 4 && server.stats().connections === 0);
  t.is(server.stats().connections, 0);
  t.deepEqual([...closedIds].sort(), [100, 101, 102, 103], 'each id once');
});

test('a handler that throws closes only its connection with 1011; stats() counts it and onError gets its connection id', async (t) => {
  const app: Application = { message: (conn, data) => { if (String(data) === 'throw') throw new Error('bug'); conn.send(data); } };
  const { port, server, errors } = await serve(t, app);
  const bystander = await openClient(port);
  const failing = await openClient(port);
  const code = closeCode(failing);
  failing.send('throw');
  t.is(await code, 1011);
  t.is(await request(bystander, 'still here'), 'still here');
  t.is(server.stats().applicationErrors, 1);
  t.deepEqual(errors, [['bug', 101]]);
  bystander.close();
});

test('close(code) closes every connection with that code and resolves once they are gone; a later upgrade gets 503', async (t) => {
  const { port, server } = await serve(t, echo);
  const clients = await Promise.all([openClient(port), openClient(port)]);
  const codes = Promise.all(clients.map(closeCode));
  await server.close(1012, 'restarting', 30_000);
  t.deepEqual(await codes, [1012, 1012]);
  t.is(server.stats().connections, 0);
  t.is(await attemptUpgrade(port), 503);
});

test('a socket that does not finish its request within the handshake timeout is dropped', async (t) => {
  const { port, closedIds } = await serve(t, echo, { handshakeTimeoutMs: 200 });
  const socket = net.connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await once(socket, 'connect');
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n'); // and nothing more
  await once(socket, 'close');
  await waitFor(() => closedIds.length === 1);
  t.deepEqual(closedIds, [100]);
});

test('the authorize service decides: a refusal is answered with its status, an acceptance gives the connection its data', async (t) => {
  const app: Application = { message: (conn) => { conn.send(JSON.stringify(conn.data)); } };
  const { port } = await serve(t, app, {}, async (upgrade) => (upgrade.url.includes('let-me-in') ? { data: { user: 'ada' } } : { status: 403, reason: 'no' }));
  t.is(await attemptUpgrade(port), 403);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/?let-me-in`);
  await once(ws, 'open');
  t.deepEqual(JSON.parse(await request(ws, 'who')), { user: 'ada' });
  ws.close();
});
