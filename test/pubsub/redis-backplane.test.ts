import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_IN_FLIGHT_BYTES, RedisBackplane, type BackplaneOptions } from '../../src/pubsub/redis-backplane.js';
import { startRedisLink, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

interface Received {
  topic: string;
  payload: Buffer;
  isBinary: boolean;
}

interface Node {
  backplane: RedisBackplane;
  received: Received[];
  log: string[];
}

/** Every wait is bounded: a test fails with `what` instead of hanging. */
async function waitFor(what: string, predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

async function redis(t: ExecutionContext): Promise<RedisServer> {
  const server = await startRedisServer();
  t.teardown(() => server.stop());
  return server;
}

function node(t: ExecutionContext, server: RedisServer, nodeId: string, options: Partial<BackplaneOptions> = {}): Node {
  const received: Received[] = [];
  const log: string[] = [];
  const backplane = new RedisBackplane({
    url: server.url,
    nodeId,
    onMessage: (topic, payload, isBinary) => received.push({ topic, payload: Buffer.from(payload), isBinary }),
    log: (entry) => log.push(entry.message),
    ...options,
  });
  t.teardown(() => backplane.close());
  return { backplane, received, log };
}

async function ready(...nodes: Node[]): Promise<void> {
  await waitFor('backplanes ready', () => nodes.every((n) => n.backplane.state === 'ready'));
}

/** A plain client to look at Redis's side of things. */
function inspector(t: ExecutionContext, server: RedisServer): Redis {
  const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  t.teardown(() => client.disconnect());
  return client;
}

/** Redis's own view: the exact channels and how many patterns are subscribed. */
async function redisSubscriptions(client: Redis): Promise<{ channels: string[]; patterns: number }> {
  const channels = (await client.call('PUBSUB', 'CHANNELS', 'wasmsocket:*')) as string[];
  const patterns = (await client.call('PUBSUB', 'NUMPAT')) as number;
  return { channels: channels.sort(), patterns };
}

/**
 * Waits until `node`'s subscriptions are live in Redis: publishes probes on `topic` from
 * `from` until one arrives, then clears what arrived.
 */
async function subscribed(from: Node, to: Node, topic: string): Promise<void> {
  await waitFor(`a probe on ${topic}`, () => {
    if (to.received.some((m) => m.topic === topic)) return true;
    from.backplane.publish(topic, Buffer.from('probe'), false);
    return false;
  });
  // Probes published before the first arrived may still be on their way: let them land.
  await sleep(50);
  to.received.length = 0;
}

const text = (messages: Received[]) => messages.map((m) => `${m.topic} ${m.payload.toString()}`);

test('B receives A\'s publishes only for the patterns B added; A never receives its own', async (t) => {
  const server = await redis(t);
  const a = node(t, server, 'node-a');
  const b = node(t, server, 'node-b');
  b.backplane.addPattern('news.sport');
  b.backplane.addPattern('weather.*');
  a.backplane.addPattern('>'); // A hears everything on the channels, its own messages included
  await ready(a, b);
  await subscribed(a, b, 'news.sport');
  for (const topic of ['news.sport', 'news.other', 'weather.today', 'weather.a.b', 'misc', 'news', 'news.sport.x']) {
    a.backplane.publish(topic, Buffer.from(`to ${topic}`), false);
  }
  a.backplane.publish('weather.done', Buffer.from('end'), false);
  await waitFor('the last message', () => b.received.some((m) => m.topic === 'weather.done'));
  t.deepEqual(text(b.received), ['news.sport to news.sport', 'weather.today to weather.today', 'weather.done end']);
  // B's publish reaches A's subscriber connection after all of A's own messages (one connection, Redis order).
  b.backplane.publish('from.b', Buffer.from('hi'), false);
  await waitFor('B\'s message at A', () => a.received.length > 0);
  t.deepEqual(text(a.received), ['from.b hi']);
  t.is(a.backplane.stats.received, 1);
  await waitFor('A\'s publishes acknowledged', () => a.backplane.stats.published >= 9);
  t.is(a.backplane.stats.dropped, 0);
});

test('1 000 publishes arrive once each and in order despite news.>, news.* and news.sport overlapping', async (t) => {
  const server = await redis(t);
  const a = node(t, server, 'node-a');
  const b = node(t, server, 'node-b');
  for (const pattern of ['news.>', 'news.*', 'news.sport']) b.backplane.addPattern(pattern);
  await ready(a, b);
  await subscribed(a, b, 'news.sport');
  const duplicatesBefore = b.backplane.stats.duplicates;
  for (let i = 0; i < 1000; i++) {
    a.backplane.publish(i % 10 === 9 ? 'news.sport.live' : 'news.sport', Buffer.from(String(i)), false);
  }
  await waitFor('1 000 messages', () => b.received.length >= 1000);
  await sleep(100); // any extra copy would land now
  t.is(b.received.length, 1000);
  t.deepEqual(b.received.map((m) => Number(m.payload.toString())), Array.from({ length: 1000 }, (_, i) => i));
  // news.sport is on two Redis subscriptions (its channel and the shared glob news.*): 900 copies dropped.
  t.is(b.backplane.stats.duplicates - duplicatesBefore, 900);
  t.is(a.backplane.stats.dropped, 0);
});

test('removePattern stops delivery, and Redis holds subscriptions only for the remaining patterns', async (t) => {
  const server = await redis(t);
  const a = node(t, server, 'node-a');
  const b = node(t, server, 'node-b');
  const client = inspector(t, server);
  for (const pattern of ['x.*', 'x.a', 'y.*', 'y.>']) b.backplane.addPattern(pattern);
  await ready(a, b);
  await subscribed(a, b, 'x.a');
  t.deepEqual(await redisSubscriptions(client), { channels: ['wasmsocket:x.a'], patterns: 2 }, 'y.* and y.> share one glob');

  b.backplane.removePattern('x.*');
  b.backplane.removePattern('y.>');
  b.backplane.removePattern('never.added'); // ignored
  for (const topic of ['x.a', 'x.b', 'y.b', 'y.b.c']) a.backplane.publish(topic, Buffer.from('1'), false);
  a.backplane.publish('x.a', Buffer.from('end'), false);
  await waitFor('the last message', () => b.received.some((m) => m.payload.toString() === 'end'));
  // The glob wasmsocket:y.* is still held for y.*, and matches y.b.c: the exact re-check filters it.
  t.deepEqual(text(b.received), ['x.a 1', 'y.b 1', 'x.a end'], 'x.b and y.b.c are not delivered');
  t.deepEqual(await redisSubscriptions(client), { channels: ['wasmsocket:x.a'], patterns: 1 });

  b.backplane.removePattern('x.a');
  b.backplane.removePattern('y.*');
  await waitForAsync('no subscriptions left', async () => {
    const now = await redisSubscriptions(client);
    return now.channels.length === 0 && now.patterns === 0;
  });
  b.received.length = 0;
  a.backplane.publish('x.a', Buffer.from('2'), false);
  a.backplane.publish('y.b.c', Buffer.from('2'), false);
  await sleep(100);
  t.deepEqual(b.received, []);
});

test('the binary flag, arbitrary bytes and literal glob characters survive the trip', async (t) => {
  const server = await redis(t);
  const a = node(t, server, 'node-a');
  const b = node(t, server, 'node-b');
  for (const pattern of ['bin.*', 'q?.*', '[x].>', 'café.*', 'back\\slash']) b.backplane.addPattern(pattern);
  await ready(a, b);
  await subscribed(a, b, 'bin.probe');
  const bytes = Buffer.from([0, 255, 0xc3, 0x28, 10, 13]);
  a.backplane.publish('bin.one', bytes, true);
  a.backplane.publish('bin.two', new Uint8Array(0), true);
  a.backplane.publish('bin.three', Buffer.from('plain text'), false);
  a.backplane.publish('qx.a', Buffer.from('glob ? must not match x'), false); // `?` is literal
  a.backplane.publish('q?.a', Buffer.from('literal ?'), false);
  a.backplane.publish('x.a', Buffer.from('glob [x] must not match x'), false);
  a.backplane.publish('[x].a.b', Buffer.from('literal [x]'), false);
  a.backplane.publish('café.crème', Buffer.from('ü'), false);
  a.backplane.publish('back\\slash', Buffer.from('\\'), false);
  a.backplane.publish('bin.end', Buffer.from('end'), false);
  await waitFor('the last message', () => b.received.some((m) => m.topic === 'bin.end'));
  t.deepEqual(b.received.map((m) => [m.topic, m.payload.toString('hex'), m.isBinary]), [
    ['bin.one', bytes.toString('hex'), true],
    ['bin.two', '', true],
    ['bin.three', Buffer.from('plain text').toString('hex'), false],
    ['q?.a', Buffer.from('literal ?').toString('hex'), false],
    ['[x].a.b', Buffer.from('literal [x]').toString('hex'), false],
    ['café.crème', Buffer.from('ü').toString('hex'), false],
    ['back\\slash', Buffer.from('\\').toString('hex'), false],
    ['bin.end', Buffer.from('end').toString('hex'), false],
  ]);
});

test('Redis killed: down is logged once and publishes are dropped; restarted: resubscribed and delivering again', async (t) => {
  const server = await redis(t);
  const a = node(t, server, 'node-a');
  const b = node(t, server, 'node-b');
  const client = inspector(t, server);
  b.backplane.addPattern('live.exact');
  b.backplane.addPattern('live.*');
  b.backplane.addPattern('gone.*');
  await ready(a, b);
  await subscribed(a, b, 'live.exact');
  t.deepEqual(a.log, [`redis backplane ready (${server.url})`]);

  await server.stop();
  await waitFor('state down', () => a.backplane.state === 'down' && b.backplane.state === 'down');
  // Changes while Redis is down are applied when it comes back.
  b.backplane.addPattern('added.while.down');
  b.backplane.removePattern('gone.*');
  const droppedBefore = a.backplane.stats.dropped;
  t.notThrows(() => {
    for (let i = 0; i < 100; i++) a.backplane.publish('live.exact', Buffer.from('lost'), false);
  });
  t.is(a.backplane.stats.dropped - droppedBefore, 100);
  await sleep(1500); // several reconnect attempts fail meanwhile
  t.is(a.log.filter((line) => line.includes('down')).length, 1, 'down is logged once');
  t.is(b.log.filter((line) => line.includes('down')).length, 1);

  await server.restart();
  await ready(a, b);
  for (const topic of ['live.exact', 'live.other', 'added.while.down']) await subscribed(a, b, topic);
  a.backplane.publish('gone.x', Buffer.from('not for b'), false);
  a.backplane.publish('live.exact', Buffer.from('end'), false);
  await waitFor('the last message', () => b.received.some((m) => m.payload.toString() === 'end'));
  t.deepEqual(text(b.received), ['live.exact end']);
  t.false(b.received.some((m) => m.payload.toString() === 'lost'), 'dropped messages are not replayed');
  t.deepEqual(await redisSubscriptions(client), { channels: ['wasmsocket:added.while.down', 'wasmsocket:live.exact'], patterns: 1 });
  // A may be back before B and then waits, `recovering`, for B to confirm its subscriptions.
  t.deepEqual(a.log.map((line) => line.split(' (')[0]).filter((line) => line !== 'redis backplane recovering'),
    ['redis backplane ready', 'redis backplane down', 'redis backplane ready']);
});

test('a stalled Redis bounds the unacknowledged publishes; the excess is dropped and counted', async (t) => {
  const server = await redis(t);
  const a = node(t, server, 'node-a');
  const b = node(t, server, 'node-b');
  b.backplane.addPattern('big');
  await ready(a, b);
  await subscribed(a, b, 'big');
  server.pause();
  t.teardown(() => server.resume());
  const payload = Buffer.alloc(1024 * 1024, 7);
  for (let i = 0; i < 40; i++) a.backplane.publish('big', payload, true);
  const fits = Math.floor(MAX_IN_FLIGHT_BYTES / (payload.length + 64)); // + header
  t.true(a.backplane.stats.dropped >= 40 - fits - 1, `dropped ${a.backplane.stats.dropped}`);
  t.true(a.backplane.stats.dropped < 40);
  const sent = 40 - a.backplane.stats.dropped;
  server.resume();
  await waitFor('the accepted publishes', () => b.received.length === sent && a.backplane.stats.published >= sent);
  t.true(b.received.every((m) => m.isBinary && m.payload.equals(payload)));
  // Acknowledged: the budget is free again.
  a.backplane.publish('big', payload, true);
  await waitFor('one more', () => b.received.length === sent + 1);
});

test('Redis unreachable at start: down once, then ready when it appears', async (t) => {
  const server = await redis(t);
  await server.stop();
  const a = node(t, server, 'node-a');
  const b = node(t, server, 'node-b');
  b.backplane.addPattern('late.*');
  t.is(a.backplane.state, 'connecting');
  await waitFor('state down', () => a.backplane.state === 'down');
  a.backplane.publish('late.x', Buffer.from('lost'), false);
  t.is(a.backplane.stats.dropped, 1);
  await sleep(500);
  await server.restart();
  await ready(a, b);
  await subscribed(a, b, 'late.x');
  // Whether A passes through recovering depends on when it first hears B's heartbeat: not asserted.
  t.deepEqual(a.log.map((line) => line.split(' (')[0]).filter((line) => line !== 'redis backplane recovering'),
    ['redis backplane down', 'redis backplane ready']);
});

test('close() ends both connections, even while Redis is down; later publishes are dropped', async (t) => {
  const server = await redis(t);
  const a = node(t, server, 'node-a');
  await ready(a);
  await a.backplane.close();
  t.is(a.backplane.state, 'closed');
  t.notThrows(() => a.backplane.publish('x', Buffer.from('after close'), false));
  t.is(a.backplane.stats.dropped, 1);
  await a.backplane.close(); // idempotent

  const b = node(t, server, 'node-b');
  b.backplane.addPattern('x');
  await ready(b);
  await server.stop();
  await waitFor('state down', () => b.backplane.state === 'down');
  const started = Date.now();
  await b.backplane.close();
  t.true(Date.now() - started < 1500, 'close does not wait for Redis');
  t.is(b.backplane.state, 'closed');
});

test('an onMessage that throws is logged, and delivery goes on', async (t) => {
  const server = await redis(t);
  const a = node(t, server, 'node-a');
  let calls = 0;
  const b = node(t, server, 'node-b', {
    onMessage: () => {
      calls++;
      throw new Error('handler bug');
    },
  });
  b.backplane.addPattern('boom');
  await ready(a, b);
  await waitFor('two deliveries', () => {
    a.backplane.publish('boom', Buffer.from('x'), false);
    return calls >= 2;
  });
  t.true(b.log.some((line) => line.includes('handler bug')));
});

test('bad options and invalid patterns are TypeErrors', (t) => {
  const base: BackplaneOptions = { url: 'redis://127.0.0.1:1', nodeId: 'n', onMessage: () => {}, log: () => {} };
  t.throws(() => new RedisBackplane({ ...base, url: 'http://x' }), { instanceOf: TypeError });
  t.throws(() => new RedisBackplane({ ...base, nodeId: '' }), { instanceOf: TypeError });
  t.throws(() => new RedisBackplane({ ...base, nodeId: 'n'.repeat(256) }), { instanceOf: TypeError });
  t.throws(() => new RedisBackplane({ ...base, onMessage: undefined as never }), { instanceOf: TypeError });
  const backplane = new RedisBackplane(base);
  t.teardown(() => backplane.close());
  t.throws(() => backplane.addPattern('a..b'), { instanceOf: TypeError });
  t.throws(() => backplane.addPattern('a.>.b'), { instanceOf: TypeError });
});

async function waitForAsync(what: string, predicate: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Small PING values, so that a stall is seen quickly, yet a deadline far above a loaded machine's
 * event-loop lag; every wait below is for a state.
 */
const quickPings: Partial<BackplaneOptions> = { pingIntervalMs: 100, pingTimeoutMs: 2000 };

/** Waits until `a` has heard `b` confirm its subscriptions (the heartbeat made it across). */
async function knows(a: Node, nodes: number): Promise<void> {
  await waitFor(`${nodes} confirmed node(s)`, () => a.backplane.peers.nodes === nodes && a.backplane.peers.confirmed === nodes);
}

test('Redis restarted and one node back before the other resubscribed: its publishes are counted until the other confirms', async (t) => {
  const server = await redis(t);
  // B reaches Redis through a link the test can hold cut: B stays away after the restart.
  const link = await startRedisLink(server);
  t.teardown(() => link.close());
  const a = node(t, server, 'node-a', quickPings);
  const b = node(t, { ...server, url: link.url }, 'node-b', quickPings);
  b.backplane.addPattern('gap.*');
  await ready(a, b);
  await subscribed(a, b, 'gap.x');
  await knows(a, 1);
  const before = { ...a.backplane.stats };

  link.cut();
  await server.restart();
  await waitFor('A recovering (B has not confirmed)', () => a.backplane.state === 'recovering');
  t.is(b.backplane.state, 'down');
  t.deepEqual(a.backplane.peers, { nodes: 1, confirmed: 0 });
  for (let i = 0; i < 42; i++) a.backplane.publish('gap.x', Buffer.from(`gap ${i}`), false);
  await waitFor('the 42 acknowledged by Redis', () => a.backplane.stats.published - before.published >= 42);
  t.is(a.backplane.stats.unconfirmed - before.unconfirmed, 42, 'Redis accepted them, but B may not have heard: counted');
  t.is(a.backplane.stats.dropped - before.dropped, 0);

  link.restore();
  await waitFor('A ready (B confirmed)', () => a.backplane.state === 'ready' && b.backplane.state === 'ready');
  a.backplane.publish('gap.x', Buffer.from('after'), false);
  await waitFor('the message after recovery', () => b.received.some((m) => m.payload.toString() === 'after'));
  const delivered = b.received.filter((m) => m.payload.toString().startsWith('gap ')).length;
  const counted = a.backplane.stats.unconfirmed - before.unconfirmed + a.backplane.stats.dropped - before.dropped;
  t.true(delivered + counted >= 42, `delivered ${delivered} + counted ${counted}`);
  t.is(a.backplane.stats.unconfirmed - before.unconfirmed, 42, 'once ready, publishes are not counted as unconfirmed');
  t.true(a.log.some((line) => line.startsWith('redis backplane recovering')), a.log.join('\n'));
});

test('SIGSTOP of Redis: both nodes report the stall and drop and count publishes; SIGCONT: ready and delivering again', async (t) => {
  const server = await redis(t);
  const a = node(t, server, 'node-a', quickPings);
  const b = node(t, server, 'node-b', quickPings);
  b.backplane.addPattern('stall.*');
  await ready(a, b);
  await subscribed(a, b, 'stall.x');

  server.pause();
  t.teardown(() => server.resume());
  await waitFor('both stalled', () => a.backplane.stats.stalls >= 1 && b.backplane.stats.stalls >= 1);
  for (const n of [a, b]) t.true(n.log.some((line) => line.startsWith('redis backplane stalled')), n.log.join('\n'));
  // Stalled (or, if the stall outlasted the reconnect deadline, down): nothing is sent, all is counted.
  t.true(['stalled', 'down'].includes(a.backplane.state), a.backplane.state);
  const droppedBefore = a.backplane.stats.dropped;
  for (let i = 0; i < 10; i++) a.backplane.publish('stall.x', Buffer.from('stalled'), false);
  t.is(a.backplane.stats.dropped - droppedBefore, 10);

  server.resume();
  await ready(a, b);
  await subscribed(a, b, 'stall.x');
  a.backplane.publish('stall.x', Buffer.from('after'), false);
  await waitFor('the message after the stall', () => b.received.some((m) => m.payload.toString() === 'after'));
  t.false(b.received.some((m) => m.payload.toString() === 'stalled'), 'dropped publishes are not sent late');
});

test('a node that closes says goodbye and is no longer waited for after a restart', async (t) => {
  const server = await redis(t);
  const a = node(t, server, 'node-a');
  const b = node(t, server, 'node-b');
  await ready(a, b);
  await knows(a, 1);
  await b.backplane.close();
  await waitFor('B forgotten', () => a.backplane.peers.nodes === 0);
  a.log.length = 0;
  await server.restart();
  await waitFor('A ready again', () => a.log.length >= 2 && a.backplane.state === 'ready');
  // Whether A passes through recovering depends on when it first hears B's heartbeat: not asserted.
  t.deepEqual(a.log.map((line) => line.split(' (')[0]).filter((line) => line !== 'redis backplane recovering'),
    ['redis backplane down', 'redis backplane ready']);
});

test('a node whose heartbeat stops is waited for (its publishes counted) until it is heard again', async (t) => {
  const server = await redis(t);
  const link = await startRedisLink(server);
  t.teardown(() => link.close());
  const a = node(t, server, 'node-a', quickPings);
  const b = node(t, { ...server, url: link.url }, 'node-b', quickPings);
  b.backplane.addPattern('cut.*');
  await ready(a, b);
  await knows(a, 1);
  link.cut(); // only B's link: A's connections never notice
  await waitFor('A recovering (B overdue)', () => a.backplane.state === 'recovering');
  const before = a.backplane.stats.unconfirmed;
  a.backplane.publish('cut.x', Buffer.from('while B is away'), false);
  await waitFor('counted', () => a.backplane.stats.unconfirmed === before + 1);
  link.restore();
  await ready(a, b);
  t.deepEqual(a.backplane.peers, { nodes: 1, confirmed: 1 });
});

test('Redis drops one node\'s subscriber connection (as for a slow subscriber): the others wait for it to resubscribe', async (t) => {
  const server = await redis(t);
  const a = node(t, server, 'node-a', quickPings);
  const b = node(t, server, 'node-b', quickPings);
  const client = inspector(t, server);
  b.backplane.addPattern('slow.*');
  await ready(a, b);
  await subscribed(a, b, 'slow.x');
  await knows(a, 1);
  // B's subscriber is the one connection holding a pattern subscription.
  const clients = String(await client.call('CLIENT', 'LIST')).split('\n');
  const id = /id=(\d+)/.exec(clients.find((line) => / psub=1 /.test(line)) ?? '')?.[1];
  t.truthy(id, clients.join('\n'));
  // A may have passed through recovering on its way to ready at the start: only a later line counts.
  a.log.length = 0;
  await client.call('CLIENT', 'KILL', 'ID', id!);
  // B says at once, through its publisher, that it lost its subscriptions: A waits for B.
  await waitFor('A recovering', () => a.log.some((line) => line.startsWith('redis backplane recovering')));
  await ready(a, b);
  t.deepEqual(a.backplane.peers, { nodes: 1, confirmed: 1 });
  a.backplane.publish('slow.x', Buffer.from('after'), false);
  await waitFor('the message after B resubscribed', () => b.received.some((m) => m.payload.toString() === 'after'));
  t.true(b.received.some((m) => m.payload.toString() === 'after'));
});

test('bad PING options are TypeErrors', (t) => {
  const base: BackplaneOptions = { url: 'redis://127.0.0.1:1', nodeId: 'n', onMessage: () => {}, log: () => {} };
  t.throws(() => new RedisBackplane({ ...base, pingIntervalMs: 0 }), { instanceOf: TypeError, message: /pingIntervalMs/ });
  t.throws(() => new RedisBackplane({ ...base, pingTimeoutMs: 1.5 }), { instanceOf: TypeError, message: /pingTimeoutMs/ });
});
