/**
 * `wasmsocket/client` in Node (its global WebSocket) against real servers on 127.0.0.1: options,
 * reconnect and failover over several URLs, the token function, a stopped server noticed and left,
 * the bounded queue of requests made while disconnected, subscriptions kept across reconnects,
 * and /client.js as the server serves it.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import WebSocket from 'ws';
import { connect, ClientError, type Client, type ClientState } from '../../src/client/client.js';
import { listen } from '../../src/main-thread/server.js';
import { freePort } from '../helpers/launched-server.js';
import { waitFor } from '../helpers/wait.js';
import { startNode } from './nodes.js';

/** Bound for every wait: generous, a loaded machine must not fail the test. */
const WAIT_MS = 20_000;
/** Reconnect quickly: the tests wait for reconnects. */
const QUICK = { minReconnectDelayMs: 20, maxReconnectDelayMs: 200 };

function track(client: Client): ClientState[] {
  const states: ClientState[] = [];
  client.on('state', (state) => states.push(state));
  return states;
}

async function openOn(client: Client, url: string): Promise<void> {
  await waitFor(() => client.state === 'open' && client.url === url, WAIT_MS);
  if (client.state !== 'open' || client.url !== url) throw new Error(`not open on ${url}: ${client.state} on ${client.url}`);
}

/** A plain `ws` client that publishes JSON to `url`. */
async function publisher(url: string): Promise<(topic: string, data: unknown) => void> {
  const ws = new WebSocket(url);
  await once(ws, 'open');
  return (topic, data) => ws.send(JSON.stringify({ type: 'publish', topic, data }));
}

test('bad options are TypeErrors that name the option', (t) => {
  t.throws(() => connect('http://127.0.0.1:1/'), { instanceOf: TypeError, message: /^url must be ws:\/\/ or wss:\/\// });
  t.throws(() => connect([]), { instanceOf: TypeError, message: /^url / });
  t.throws(() => connect('ws://127.0.0.1:1/', { maxQueued: -1 }), { instanceOf: TypeError, message: /^maxQueued / });
  t.throws(() => connect('ws://127.0.0.1:1/', { pingIntervalMs: 1.5 }), { instanceOf: TypeError, message: /^pingIntervalMs / });
  t.throws(() => connect('ws://127.0.0.1:1/', { minReconnectDelayMs: 500, maxReconnectDelayMs: 100 }), { instanceOf: TypeError, message: /^maxReconnectDelayMs / });
  t.throws(() => connect('ws://127.0.0.1:1/', { token: 5 as never }), { instanceOf: TypeError, message: /^token / });
});

test('the server serves the client at /client.js as a JavaScript module any origin may import', async (t) => {
  const server = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub' });
  t.teardown(() => server.close());
  const response = await fetch(`http://127.0.0.1:${server.port}/client.js`);
  t.is(response.status, 200);
  t.is(response.headers.get('content-type'), 'text/javascript; charset=utf-8');
  t.is(response.headers.get('access-control-allow-origin'), '*');
  const built = readFileSync(new URL('../../src/client/client.js', import.meta.url), 'utf8');
  const served = await response.text();
  t.is(served, built.replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n'), 'the built module, without its source map line');
  t.regex(served, /export function connect\(/);
  t.notRegex(served, /^import /m, 'no imports: a page needs no other file');
});

test('several URLs: the client fails over round-robin when its server goes away, and back', async (t) => {
  const [a, b] = [await startNode(t), await startNode(t)];
  const client = connect([a.url, b.url], QUICK);
  t.teardown(() => client.close());
  const states = track(client);
  await openOn(client, a.url);
  await a.kill();
  await openOn(client, b.url);
  t.is(client.reconnects, 1);
  await a.restart();
  await b.kill();
  await openOn(client, a.url);
  t.is(client.reconnects, 2);
  t.deepEqual(states.filter((state, i) => state !== states[i - 1]).slice(0, 5), ['open', 'reconnecting', 'open', 'reconnecting', 'open']);
  client.close();
  t.is(client.state, 'closed');
});

test('the token function is called again at every reconnect, and the upgrade hook sees its token', async (t) => {
  const seen: string[] = [];
  // The first token is refused (401), as an expired one would be: the next attempt gets a fresh one.
  const authorize = (request: { url: string }) => {
    const token = new URL(request.url, 'http://x').searchParams.get('token') ?? '';
    seen.push(token);
    return token !== 'token-1';
  };
  const [a, b] = [await listen({ host: '127.0.0.1', port: 0, app: 'pubsub', authorize }), await listen({ host: '127.0.0.1', port: 0, app: 'pubsub', authorize })];
  t.teardown(() => b.close());
  let calls = 0;
  const client = connect([`ws://127.0.0.1:${a.port}/`, `ws://127.0.0.1:${b.port}/`], { ...QUICK, token: async () => `token-${++calls}` });
  t.teardown(() => client.close());
  await openOn(client, `ws://127.0.0.1:${b.port}/`);
  // Node's WebSocket (undici) may send a refused handshake twice: the tokens, not the requests, count.
  t.deepEqual([...new Set(seen)], ['token-1', 'token-2'], 'refused at a, then a fresh token at b');
  await a.close();
  const before = calls;
  const reopened = new Promise<void>((resolve) => client.on('state', (state) => { if (state === 'open') resolve(); }));
  const bPort = b.port;
  await b.close();
  const c = await listen({ host: '127.0.0.1', port: bPort, app: 'pubsub', authorize });
  t.teardown(() => c.close());
  await reopened;
  t.true(calls > before, 'called again for the reconnect');
  t.is(seen.at(-1), `token-${calls}`, 'the server saw the newest token');
});

for (const workers of [0, 1]) {
  test(`the pubsub app answers the client's check: ping → pong, with the request's id [${workers === 0 ? 'inline' : '1 worker'}]`, async (t) => {
    const server = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub', workers });
    t.teardown(() => server.close());
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    t.teardown(() => ws.terminate());
    await once(ws, 'open');
    ws.send('{"type":"ping"}');
    t.is(String((await once(ws, 'message'))[0]), '{"type":"pong"}');
    ws.send('{"type":"ping","id":7}');
    t.deepEqual(JSON.parse(String((await once(ws, 'message'))[0])), { type: 'pong', id: 7 });
  });
}

test('a stopped server (SIGSTOP) is noticed by the client\'s own check and left for the next URL', async (t) => {
  const a = await startNode(t);
  const b = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub' });
  t.teardown(() => b.close());
  const bUrl = `ws://127.0.0.1:${b.port}/`;
  const client = connect([a.url, bUrl], { ...QUICK, pingIntervalMs: 200, pingTimeoutMs: 5000, connectTimeoutMs: 5000 });
  t.teardown(() => client.close());
  const received: unknown[] = [];
  client.subscribe('news', (data) => received.push(data));
  await openOn(client, a.url);
  // Idle and answered: the check alone keeps the connection (several intervals pass here).
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.is(client.url, a.url);
  t.is(client.reconnects, 0, 'a live idle server is not left');

  a.process.child.kill('SIGSTOP');
  t.teardown(() => { a.process.child.kill('SIGCONT'); });
  await openOn(client, bUrl);
  t.is(client.reconnects, 1);
  // Resubscribed there.
  const publish = await publisher(bUrl);
  await waitFor(() => { publish('news', 'on b'); return received.includes('on b'); }, WAIT_MS, 500);
  t.true(received.includes('on b'));
});

test('requests made while disconnected wait in a bounded queue (maxQueued), then go out after the resubscriptions', async (t) => {
  const port = await freePort();
  const url = `ws://127.0.0.1:${port}/`;
  const client = connect(url, { ...QUICK, maxQueued: 3 });
  t.teardown(() => client.close());
  const received: unknown[] = [];
  client.subscribe('queue.t', (data) => received.push(data));
  t.is(client.state, 'connecting');
  const queued = [1, 2, 3].map((n) => client.publish('queue.t', n));
  const overflow = await client.publish('queue.t', 4).catch((error: unknown) => error);
  t.true(overflow instanceof ClientError);
  t.is((overflow as ClientError).code, 'queue_full');

  const server = await listen({ host: '127.0.0.1', port, app: 'pubsub' });
  t.teardown(() => server.close());
  await waitFor(() => received.length === 3, WAIT_MS);
  t.deepEqual(received, [1, 2, 3], 'queued publishes went out in order, after the subscription they reach');
  const acks = await Promise.all(queued);
  t.is(acks.length, 3, 'each acknowledged');
});

test('close() rejects what still waits with closed, and the client stays closed', async (t) => {
  const client = connect(`ws://127.0.0.1:${await freePort()}/`, QUICK);
  const waiting = client.publish('x', 1);
  const history = client.history('x');
  client.close();
  for (const promise of [waiting, history]) {
    const error = await promise.catch((caught: unknown) => caught);
    t.is((error as ClientError).code, 'closed');
  }
  t.is(client.state, 'closed');
  t.is(((await client.publish('x', 2).catch((caught: unknown) => caught)) as ClientError).code, 'closed');
  t.throws(() => client.subscribe('x', () => {}), { instanceOf: ClientError });
});

test('a wildcard subscription is resubscribed after a reconnect without recovery, and says so', async (t) => {
  const [a, b] = [await startNode(t), await startNode(t)];
  const client = connect([a.url, b.url], QUICK);
  t.teardown(() => client.close());
  const received: [unknown, string][] = [];
  const subscription = client.subscribe('chat.*', (data, info) => received.push([data, info.topic]));
  const unrecovered: string[] = [];
  subscription.on('unrecovered', (event) => unrecovered.push(event.reason));
  // Subscribed on a first: a connection lost before that has nothing to recover.
  await new Promise((resolve) => subscription.on('subscribed', resolve));
  t.is(client.url, a.url);
  await a.kill();
  await openOn(client, b.url);
  await waitFor(() => unrecovered.length > 0, WAIT_MS);
  t.deepEqual(unrecovered, ['pattern']);
  const publish = await publisher(b.url);
  await waitFor(() => { publish('chat.room1', 'hi'); return received.length > 0; }, WAIT_MS, 200);
  t.deepEqual(received[0], ['hi', 'chat.room1']);
});

test('a refused subscription ends with an error on the subscription; the connection stays open', async (t) => {
  const server = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub' });
  t.teardown(() => server.close());
  const client = connect(`ws://127.0.0.1:${server.port}/`, QUICK);
  t.teardown(() => client.close());
  const subscription = client.subscribe('bad..topic', () => {});
  const [error] = await new Promise<[Error]>((resolve) => subscription.on('error', (caught) => resolve([caught])));
  t.is((error as ClientError).code, 'bad_topic');
  t.is(client.state, 'open');
});

test('the WebSocket option: the ws package\'s class in place of the global one', async (t) => {
  const server = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub' });
  t.teardown(() => server.close());
  const client = connect(`ws://127.0.0.1:${server.port}/`, { ...QUICK, WebSocket });
  t.teardown(() => client.close());
  const received: unknown[] = [];
  client.subscribe('ws.t', (data) => received.push(data));
  t.deepEqual(await client.publish('ws.t', { via: 'ws' }), { offset: 1 });
  await waitFor(() => received.length === 1, WAIT_MS);
  t.deepEqual(received, [{ via: 'ws' }]);
  t.deepEqual(await client.history('ws.t'), { offset: 1, epoch: (await client.history('ws.t')).epoch, messages: [{ offset: 1, data: { via: 'ws' } }] });
  t.is(await client.presence('ws.t'), 1);
});

test('with the ws package\'s class, an attempt given up before its handshake ends (connect timeout, close()) throws nothing', async (t) => {
  // A port that accepts TCP and never answers the handshake.
  const silent = net.createServer(() => {});
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.teardown(() => { silent.close(); });
  const url = `ws://127.0.0.1:${(silent.address() as net.AddressInfo).port}/`;
  const client = connect(url, { ...QUICK, WebSocket, connectTimeoutMs: 100 });
  const attempts = new Promise<void>((resolve) => { let seen = 0; silent.on('connection', () => { if (++seen === 3) resolve(); }); });
  await attempts;
  client.close();
  // An uncaught 'error' from a dropped socket would fail this test file; give it a turn to come.
  await new Promise((resolve) => setImmediate(resolve));
  t.is(client.state, 'closed');
});
