/**
 * What an application knows of a connection (conn.request, conn.data from `upgrade` or from the
 * server's `authorize`), conn.ping and conn.terminate, --path, the default subprotocol choice,
 * and handleUpgrade from another HTTP server: inline and in worker mode.
 */
import test from 'ava';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { listen } from '../../src/server/server.js';
import { waitFor } from '../helpers/wait.js';

const contextApp = fileURLToPath(new URL('../fixtures/context-app.js', import.meta.url));
const throwingApp = fileURLToPath(new URL('../fixtures/throwing-app.js', import.meta.url));
const modeName = (workers: number) => (workers === 0 ? 'inline' : `${workers} worker${workers > 1 ? 's' : ''}`);

interface Context {
  id: number;
  protocol: string | undefined;
  request: { method: string; url: string; headers: Record<string, string>; remoteAddress: string; remotePort: number };
  data: unknown;
  servedOn: number;
}

async function open(url: string, protocols?: string[], headers?: Record<string, string>): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, { headers });
  await once(ws, 'open');
  return ws;
}

async function ask(ws: WebSocket, text: string): Promise<string> {
  const reply = once(ws, 'message');
  ws.send(text);
  return String((await reply)[0]);
}

/** The HTTP status of a refused upgrade. */
function refusal(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('error', () => {});
  });
}

for (const workers of [0, 1, 2]) {
  const mode = modeName(workers);

  test(`[${mode}] conn.request and conn.data from the app's upgrade reach the handlers`, async (t) => {
    const server = await listen({ port: 0, app: contextApp, workers });
    t.teardown(() => server.close());
    const ws = await open(`ws://127.0.0.1:${server.port}/room/7?user=ada`, ['chat'], { 'X-Trace': 'abc' });
    const context = JSON.parse(await ask(ws, 'context')) as Context;
    t.like(context.request, { method: 'GET', url: '/room/7?user=ada', remoteAddress: '127.0.0.1' });
    t.is(context.request.headers['x-trace'], 'abc');
    t.is(context.request.remotePort, (ws as unknown as { _socket: { localPort: number } })._socket.localPort);
    t.deepEqual(context.data, { user: 'ada', upgradedOn: context.servedOn }, 'upgrade ran on the thread that serves the connection');
    t.is(context.protocol, 'chat', 'with no subprotocols configured, the client\'s first offer is chosen');
    ws.close();
  });

  test(`[${mode}] the app's upgrade refuses with its status, and a hook that returns nothing gets 500`, async (t) => {
    const errors: Error[] = [];
    const server = await listen({ port: 0, app: contextApp, workers, onError: (error) => errors.push(error) });
    t.teardown(() => server.close());
    t.is(await refusal(`ws://127.0.0.1:${server.port}/?refuse`), 403);
    t.is(await refusal(`ws://127.0.0.1:${server.port}/?forget`), 500);
    // In worker mode the report travels to the main thread apart from the HTTP answer.
    await waitFor(() => errors.length > 0);
    t.regex(errors.map((e) => e.message).join('\n'), /a handshake hook must return true, false, \{ data \} or \{ status, reason \}/);
  });

  test(`[${mode}] data from the server's authorize hook reaches conn.data; the app's upgrade may replace it`, async (t) => {
    const server = await listen({
      port: 0, app: contextApp, workers,
      authorize: (request) => ({ data: { token: request.headers.authorization ?? null, checkedOn: 'main' } }),
    });
    t.teardown(() => server.close());
    const fromAuthorize = await open(`ws://127.0.0.1:${server.port}/`, undefined, { Authorization: 'Bearer t0k3n' });
    t.deepEqual((JSON.parse(await ask(fromAuthorize, 'context')) as Context).data, { token: 'Bearer t0k3n', checkedOn: 'main' });
    const fromUpgrade = await open(`ws://127.0.0.1:${server.port}/?user=bob`);
    t.like((JSON.parse(await ask(fromUpgrade, 'context')) as Context).data, { user: 'bob' });
    fromAuthorize.close();
    fromUpgrade.close();
  });

  test(`[${mode}] authorize data that cannot cross threads is refused with 500, in every mode alike`, async (t) => {
    const errors: Error[] = [];
    const server = await listen({ port: 0, app: contextApp, workers, authorize: () => ({ data: { send: () => {} } }), onError: (e) => errors.push(e) });
    t.teardown(() => server.close());
    t.is(await refusal(`ws://127.0.0.1:${server.port}/`), 500);
    t.regex(errors[0]?.message ?? '', /could not be cloned/);
  });

  test(`[${mode}] conn.close with a code that may not be sent is a RangeError for the app (its connection closes 1011)`, async (t) => {
    const errors: Error[] = [];
    const server = await listen({ port: 0, app: contextApp, workers, onError: (error) => errors.push(error) });
    t.teardown(() => server.close());
    const ws = await open(`ws://127.0.0.1:${server.port}/`);
    const closed = once(ws, 'close');
    ws.send('close 999');
    t.is((await closed)[0], 1011, 'the client never sees 999 on the wire');
    t.regex(errors.map((e) => e.stack).join('\n'), /RangeError: close code 999 may not be sent/);
  });

  test(`[${mode}] conn.ping reaches the client, conn.terminate drops TCP without a close frame`, async (t) => {
    const server = await listen({ port: 0, app: contextApp, workers });
    t.teardown(() => server.close());
    const ws = await open(`ws://127.0.0.1:${server.port}/`);
    const ping = once(ws, 'ping');
    ws.send('ping');
    t.is(String((await ping)[0]), 'are you there');
    const closed = once(ws, 'close');
    ws.send('terminate');
    t.is((await closed)[0], 1006);
  });

  test(`[${mode}] without onError, a handler's exception is logged with its connection id and stack`, async (t) => {
    const lines: string[] = [];
    const server = await listen({ port: 0, app: throwingApp, workers, log: (line) => lines.push(line) });
    t.teardown(() => server.close());
    const ws = await open(`ws://127.0.0.1:${server.port}/`);
    const closed = once(ws, 'close');
    ws.send('boom');
    t.is((await closed)[0], 1011);
    await waitFor(() => lines.length > 0);
    t.regex(lines.join('\n'), /application error(?: in worker \d)?, connection \d+: Error: handler failure on purpose\n\s+at /);
  });

  test(`[${mode}] with path set, only that path is upgraded and others get 404`, async (t) => {
    const server = await listen({ port: 0, app: 'echo', workers, path: '/ws' });
    t.teardown(() => server.close());
    const ws = await open(`ws://127.0.0.1:${server.port}/ws?v=1`);
    t.is(await ask(ws, 'hello'), 'hello');
    t.is(await refusal(`ws://127.0.0.1:${server.port}/`), 404);
    t.is(await refusal(`ws://127.0.0.1:${server.port}/ws/deeper`), 404);
    ws.close();
  });

  test(`[${mode}] handleUpgrade serves another HTTP server's upgrades on its thread, and pub/sub joins the workers'`, async (t) => {
    const server = await listen({ port: 0, app: 'pubsub', workers, path: '/live' });
    t.teardown(() => server.close());
    const http: Server = createServer((_request, response) => response.end('plain HTTP from the host server\n'));
    http.on('upgrade', (request, socket, head) => server.handleUpgrade(request, socket, head));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    t.teardown(() => http.close());
    const hostPort = (http.address() as AddressInfo).port;
    t.is(await (await fetch(`http://127.0.0.1:${hostPort}/`)).text(), 'plain HTTP from the host server\n');
    t.is(await refusal(`ws://127.0.0.1:${hostPort}/elsewhere`), 404, 'the same rules as our own listener');
    const attached = await open(`ws://127.0.0.1:${hostPort}/live`);
    const direct = await open(`ws://127.0.0.1:${server.port}/live`);
    for (const ws of [attached, direct]) {
      t.like(JSON.parse(await ask(ws, JSON.stringify({ type: 'subscribe', topic: 'news' }))), { type: 'subscribed', topic: 'news', offset: 0 });
    }
    const toDirect = once(direct, 'message');
    const toAttached = once(attached, 'message');
    attached.send(JSON.stringify({ type: 'publish', topic: 'news', data: 'from the attached side' }));
    t.deepEqual(JSON.parse(String((await toDirect)[0])), { type: 'message', topic: 'news', data: 'from the attached side', offset: 1 });
    t.deepEqual(JSON.parse(String((await toAttached)[0])), { type: 'message', topic: 'news', data: 'from the attached side', offset: 1 });
    const back = once(attached, 'message');
    direct.send(JSON.stringify({ type: 'publish', topic: 'news', data: 'from a worker' }));
    t.deepEqual(JSON.parse(String((await back)[0])), { type: 'message', topic: 'news', data: 'from a worker', offset: 2 });
    t.is((await server.stats()).connections, 2);
    attached.close();
    direct.close();
  });
}

test('unknown options and bad values are TypeErrors before anything starts', async (t) => {
  await t.throwsAsync(listen({ app: 'echo', server: {} } as never), { instanceOf: TypeError, message: 'unknown option "server"' });
  await t.throwsAsync(listen({ app: 'echo', port: -1 }), { instanceOf: TypeError, message: /option port must be a whole number/ });
  await t.throwsAsync(listen({ app: 'echo', workers: 1.5 }), { instanceOf: TypeError, message: /option workers/ });
  await t.throwsAsync(listen({ app: 'echo', path: 'ws' }), { instanceOf: TypeError, message: /option path must be a string starting with/ });
  await t.throwsAsync(listen({ app: 'echo', authorize: true } as never), { instanceOf: TypeError, message: /option authorize must be a function/ });
});

test('noServer takes no listener and refuses workers', async (t) => {
  await t.throwsAsync(listen({ app: 'echo', noServer: true, workers: 1 }), { instanceOf: TypeError, message: /noServer .* workers: 0/ });
  const server = await listen({ app: 'echo', noServer: true });
  t.teardown(() => server.close());
  t.is(server.address() as unknown, null);
});
