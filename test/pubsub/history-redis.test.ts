import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { listen, type ServerOptions, type WasmSocketServer } from '../../src/main-thread/server.js';
import { startRedisLink, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { StreamClient } from '../helpers/stream-client.js';
import { waitFor } from '../helpers/wait.js';
import { dropMidStreamAndRecover } from '../helpers/recovery.js';

interface BackplaneHealth { state: string; peers: { nodes: number; confirmed: number } }

async function backplaneOf(server: WasmSocketServer): Promise<BackplaneHealth> {
  return (await server.health()).backplane as BackplaneHealth;
}

/** Two nodes on one real Redis, each knowing the other. */
async function twoNodes(t: ExecutionContext, workers: number, options: ServerOptions = {}, redisUrl?: string): Promise<{ redis: RedisServer; a: WasmSocketServer; b: WasmSocketServer }> {
  const redis = await startRedisServer();
  t.teardown(() => redis.stop());
  const start = async (url: string) => {
    const server = await listen({ port: 0, app: 'pubsub', workers, redis: url, redisPingIntervalMs: 100, log: () => {}, ...options });
    t.teardown(() => server.close());
    return server;
  };
  const a = await start(redisUrl ?? redis.url);
  const b = await start(redis.url);
  const ready = async () => {
    const [x, y] = await Promise.all([backplaneOf(a), backplaneOf(b)]);
    return x.state === 'ready' && y.state === 'ready' && x.peers.nodes === 1 && y.peers.nodes === 1;
  };
  await waitFor(ready, 15_000, 50);
  t.true(await ready(), 'both nodes ready and known to each other');
  return { redis, a, b };
}

for (const workers of [0, 2]) {
  const mode = workers === 0 ? 'inline' : `${workers} workers`;

  test(`[2 nodes, ${mode}] dropped on one node, recovered on the other: every missed message once, in order, while both nodes publish`, async (t) => {
    const { a, b } = await twoNodes(t, workers, { historySize: 10_000 });
    const publishers = [await StreamClient.connect(a.port), await StreamClient.connect(b.port)];
    await dropMidStreamAndRecover(t, publishers, a.port, b.port, 'chat.nodes');
    for (const p of publishers) p.close();
  });

  test(`[2 nodes, ${mode}] presence counts the exact subscriptions over both nodes`, async (t) => {
    const { a, b } = await twoNodes(t, workers);
    const clients = await Promise.all([a, a, b, b, b].map((node) => StreamClient.connect(node.port)));
    for (const c of clients.slice(0, 4)) await c.request({ type: 'subscribe', topic: 'who.here' });
    await clients[4]!.request({ type: 'subscribe', topic: 'who.*' });
    t.like(await clients[4]!.request({ type: 'presence', topic: 'who.here' }), { type: 'presence', subscribers: 4 });
    t.is(await a.presence('who.here'), 4);
    t.is(await b.presence('who.else'), 0);
    for (const c of clients) c.close();
  });
}

test('[2 nodes] offsets are contiguous over both nodes; history with limit and since reads Redis from either node', async (t) => {
  const { a, b } = await twoNodes(t, 0);
  const [onA, onB] = [await StreamClient.connect(a.port), await StreamClient.connect(b.port)];
  const offsets: number[] = [];
  for (let i = 0; i < 6; i++) {
    const client = i % 2 === 0 ? onA : onB;
    offsets.push((await client.request({ type: 'publish', topic: 'h.nodes', data: i })).offset as number);
  }
  t.deepEqual(offsets, [1, 2, 3, 4, 5, 6]);
  const newest = await onB.request({ type: 'history', topic: 'h.nodes', limit: 2 });
  t.deepEqual(newest.messages, [{ offset: 5, data: 4 }, { offset: 6, data: 5 }]);
  const since = await onA.request({ type: 'history', topic: 'h.nodes', since: { offset: 4, epoch: newest.epoch } });
  t.like(since, { recovered: true, offset: 6, epoch: newest.epoch });
  t.deepEqual(since.messages, [{ offset: 5, data: 4 }, { offset: 6, data: 5 }]);
  onA.close();
  onB.close();
});

test('[2 nodes] a position from before a Redis flush, or older than the history, gets recovered:false', async (t) => {
  const { redis, a, b } = await twoNodes(t, 0, { historySize: 3 });
  const publisher = await StreamClient.connect(a.port);
  const { epoch } = await publisher.request({ type: 'subscribe', topic: 'flush.t' });
  for (let i = 1; i <= 5; i++) await publisher.request({ type: 'publish', topic: 'flush.t', data: i });
  const old = await StreamClient.connect(b.port);
  t.like(await old.request({ type: 'subscribe', topic: 'flush.t', recover: { offset: 1, epoch } }), { recovered: false, offset: 5, epoch });
  const client = new Redis(redis.url);
  await client.flushall();
  client.disconnect();
  const after = await StreamClient.connect(b.port);
  const reply = await after.request({ type: 'subscribe', topic: 'flush.t', recover: { offset: 5, epoch } });
  t.like(reply, { recovered: false, offset: 0 });
  t.not(reply.epoch, epoch, 'a new epoch after the history was lost');
  t.like(await publisher.request({ type: 'publish', topic: 'flush.t', data: 'again' }), { offset: 1 });
  await after.until(() => after.messages().length === 1, 'the first publish of the new epoch');
  t.deepEqual(after.offsets('flush.t'), [1]);
  for (const c of [publisher, old, after]) c.close();
});

test('[2 nodes] a subscribe on a node that has not reached Redis yet waits for it: answered with the position, what follows delivered with no gap', async (t) => {
  const redis = await startRedisServer();
  t.teardown(() => redis.stop());
  const link = await startRedisLink(redis);
  t.teardown(() => link.close());
  link.hold();
  const late = await listen({ port: 0, app: 'pubsub', redis: link.url, redisPingIntervalMs: 100, log: () => {} });
  t.teardown(() => late.close());
  const other = await listen({ port: 0, app: 'pubsub', redis: redis.url, redisPingIntervalMs: 100, log: () => {} });
  t.teardown(() => other.close());
  await waitFor(async () => (await backplaneOf(other)).state === 'ready', 10_000, 50);
  const publisher = await StreamClient.connect(other.port);
  t.like(await publisher.request({ type: 'publish', topic: 'early.t', data: 'before' }), { offset: 1 });
  const subscriber = await StreamClient.connect(late.port);
  const answer = subscriber.request({ type: 'subscribe', topic: 'early.t' });
  // The subscribe has reached the node (it holds the subscription) while Redis is still held back.
  await waitFor(async () => ((await late.health()).pubsub as { subscriptions: number }).subscriptions === 1, 10_000, 20);
  t.is((await backplaneOf(late)).state, 'connecting');
  link.release();
  t.like(await answer, { offset: 1 }, 'the position at the subscribe, read once the subscription was live');
  t.like(await publisher.request({ type: 'publish', topic: 'early.t', data: 'after' }), { offset: 2 });
  await subscriber.until(() => subscriber.messages().length === 1, 'the publish after the subscribe');
  t.deepEqual(subscriber.messages().map((m) => [m.data, m.offset]), [['after', 2]]);
  for (const c of [publisher, subscriber]) c.close();
});

test('[2 nodes] while Redis is unreachable, a publish is delivered on its node without an offset and not kept', async (t) => {
  const redis = await startRedisServer();
  t.teardown(() => redis.stop());
  const link = await startRedisLink(redis);
  t.teardown(() => link.close());
  const server = await listen({ port: 0, app: 'pubsub', redis: link.url, redisPingIntervalMs: 100, log: () => {} });
  t.teardown(() => server.close());
  await waitFor(async () => (await backplaneOf(server)).state === 'ready', 10_000, 50);
  const client = await StreamClient.connect(server.port);
  await client.request({ type: 'subscribe', topic: 'out.t' });
  t.like(await client.request({ type: 'publish', topic: 'out.t', data: 'kept' }), { offset: 1 });
  link.cut();
  await waitFor(async () => (await backplaneOf(server)).state === 'down', 10_000, 50);
  const ack = await client.request({ type: 'publish', topic: 'out.t', data: 'local only' });
  t.is(ack.offset, undefined);
  await client.until(() => client.messages().length === 2, 'both deliveries');
  t.deepEqual(client.messages().map((m) => [m.data, m.offset]), [['kept', 1], ['local only', undefined]]);
  link.restore();
  await waitFor(async () => (await backplaneOf(server)).state === 'ready', 15_000, 50);
  t.like(await client.request({ type: 'publish', topic: 'out.t', data: 'after' }), { offset: 2 });
  client.close();
});
