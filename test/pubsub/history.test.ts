import test, { type ExecutionContext } from 'ava';
import { listen, type ServerOptions } from '../../src/main-thread/server.js';
import { StreamClient, type Reply } from '../helpers/stream-client.js';
import { dropMidStreamAndRecover } from '../helpers/recovery.js';

for (const workers of [0, 2]) {
  const mode = workers === 0 ? 'inline' : `${workers} workers`;
  const start = async (t: ExecutionContext, options: ServerOptions = {}) => {
    const server = await listen({ port: 0, app: 'pubsub', workers, ...options });
    t.teardown(() => server.close());
    return server;
  };

  test(`[${mode}] a subscriber dropped mid-stream recovers every missed message exactly once, in order, while publishes continue`, async (t) => {
    const server = await start(t, { historySize: 10_000 });
    const publisher = await StreamClient.connect(server.port);
    await dropMidStreamAndRecover(t, [publisher], server.port, server.port, 'chat.r1');
    publisher.close();
  });

  test(`[${mode}] a position older than the history, or of another epoch, gets recovered:false and nothing replayed`, async (t) => {
    const server = await start(t, { historySize: 5 });
    const client = await StreamClient.connect(server.port);
    const { epoch } = await client.request({ type: 'subscribe', topic: 'room.a' });
    for (let i = 1; i <= 10; i++) t.like(await client.request({ type: 'publish', topic: 'room.a', data: i }), { type: 'published', offset: i });
    const late = await StreamClient.connect(server.port);
    t.like(await late.request({ type: 'subscribe', topic: 'room.a', recover: { offset: 4, epoch } }),
      { type: 'subscribed', offset: 10, epoch, recovered: false });
    // Within the history (the last 5: 6..10): recovered.
    const inWindow = await StreamClient.connect(server.port);
    t.like(await inWindow.request({ type: 'subscribe', topic: 'room.a', recover: { offset: 5, epoch } }), { recovered: true, offset: 10 });
    await inWindow.until(() => inWindow.messages().length === 5, 'the replay of 6..10');
    t.deepEqual(inWindow.offsets('room.a'), [6, 7, 8, 9, 10]);
    const otherEpoch = await StreamClient.connect(server.port);
    t.like(await otherEpoch.request({ type: 'subscribe', topic: 'room.a', recover: { offset: 9, epoch: 'not-this-one' } }), { recovered: false, offset: 10, epoch });
    // The next publish is the first delivery the unrecovered clients get: nothing was replayed.
    await client.request({ type: 'publish', topic: 'room.a', data: 11 });
    for (const c of [late, otherEpoch]) {
      await c.until(() => c.messages().length > 0, 'the live delivery');
      t.deepEqual(c.messages(), [{ type: 'message', topic: 'room.a', data: 11, offset: 11 }]);
    }
    // What /healthz and /metrics count: one recovery (5 replayed), two answered recovered:false.
    t.like((await server.stats()).pubsub, { recovered: 1, notRecovered: 2, replayed: 5 });
    for (const c of [client, late, inWindow, otherEpoch]) c.close();
  });

  test(`[${mode}] ids are echoed on replies and errors; publishes with an id are acknowledged with their offset`, async (t) => {
    const server = await start(t);
    const client = await StreamClient.connect(server.port);
    t.like(await client.request({ type: 'subscribe', topic: 'ids.a' }), { type: 'subscribed', topic: 'ids.a', offset: 0 });
    t.deepEqual(await client.request({ type: 'publish', topic: 'ids.a', data: 'x' }), { type: 'published', id: 2, topic: 'ids.a', offset: 1 });
    t.like(await client.request({ type: 'subscribe', topic: 'ids.*' }), { type: 'subscribed', topic: 'ids.*', id: 3 });
    t.is((client.received.find((m) => m.id === 3) as Reply).offset, undefined, 'a pattern has no position');
    t.like(await client.request({ type: 'subscribe', topic: 'ids.*', recover: { offset: 0, epoch: 'e' } }), { type: 'error', code: 'bad_request', id: 4 });
    t.like(await client.request({ type: 'publish', topic: 'bad..topic', data: 1 }), { type: 'error', code: 'bad_topic', id: 5 });
    t.like(await client.request({ type: 'publish', topic: 'ids.a' }), { type: 'error', code: 'bad_request', id: 6 });
    t.like(await client.request({ type: 'subscribe', topic: 'ids.a', recover: { offset: -1, epoch: 'e' } }), { type: 'error', code: 'bad_request', id: 7 });
    t.like(await client.request({ type: 'nonsense' }), { type: 'error', code: 'unknown_type', id: 8 });
    t.deepEqual(await client.request({ type: 'unsubscribe', topic: 'ids.*' }), { type: 'unsubscribed', id: 9, topic: 'ids.*' });
    client.send({ type: 'publish', topic: 'ids.a', data: 1, id: 'text' });
    await client.until(() => client.received.some((m) => m.type === 'error' && m.message === '"id" must be a number'), 'the id error');
    t.pass();
    client.close();
  });

  test(`[${mode}] self:false leaves the publisher out; other subscribers get the publish`, async (t) => {
    const server = await start(t);
    const [a, b] = await Promise.all([StreamClient.connect(server.port), StreamClient.connect(server.port)]);
    await a.request({ type: 'subscribe', topic: 'self.t' });
    await b.request({ type: 'subscribe', topic: 'self.t' });
    await a.request({ type: 'publish', topic: 'self.t', data: 'not to me', self: false });
    await a.request({ type: 'publish', topic: 'self.t', data: 'to me too' });
    await b.until(() => b.messages().length === 2, 'both publishes at b');
    await a.until(() => a.messages().length === 1, 'the second publish at a');
    t.deepEqual(a.messages().map((m) => m.data), ['to me too']);
    t.deepEqual(b.messages().map((m) => m.data), ['not to me', 'to me too']);
    t.deepEqual(b.offsets('self.t'), [1, 2]);
    a.close();
    b.close();
  });

  test(`[${mode}] history answers the newest limit messages, or those after since`, async (t) => {
    const server = await start(t);
    const client = await StreamClient.connect(server.port);
    for (let i = 1; i <= 6; i++) await client.request({ type: 'publish', topic: 'h.t', data: { n: i } });
    const newest = await client.request({ type: 'history', topic: 'h.t', limit: 2 });
    t.like(newest, { type: 'history', topic: 'h.t', offset: 6 });
    t.deepEqual(newest.messages, [{ offset: 5, data: { n: 5 } }, { offset: 6, data: { n: 6 } }]);
    const epoch = newest.epoch as string;
    const since = await client.request({ type: 'history', topic: 'h.t', since: { offset: 3, epoch } });
    t.like(since, { recovered: true, offset: 6, epoch });
    t.deepEqual((since.messages as Reply[]).map((m) => m.offset), [4, 5, 6]);
    const sinceLimited = await client.request({ type: 'history', topic: 'h.t', since: { offset: 3, epoch }, limit: 1 });
    t.deepEqual(sinceLimited.messages, [{ offset: 4, data: { n: 4 } }]);
    const lost = await client.request({ type: 'history', topic: 'h.t', since: { offset: 3, epoch: 'other' } });
    t.like(lost, { recovered: false, messages: [] });
    t.like(await client.request({ type: 'history', topic: 'h.*' }), { type: 'error', code: 'bad_topic' });
    t.like(await client.request({ type: 'history', topic: 'h.t', limit: -1 }), { type: 'error', code: 'bad_request' });
    client.close();
  });

  test(`[${mode}] presence counts the exact subscriptions on every thread, not patterns`, async (t) => {
    const server = await start(t);
    const clients = await Promise.all(Array.from({ length: 4 }, () => StreamClient.connect(server.port)));
    if (workers > 1) t.true(server.workerLoads.every((load) => load > 0), 'the subscribers are spread over the workers');
    for (const c of clients.slice(0, 3)) await c.request({ type: 'subscribe', topic: 'p.room' });
    await clients[3]!.request({ type: 'subscribe', topic: 'p.*' });
    t.deepEqual(await clients[3]!.request({ type: 'presence', topic: 'p.room' }), { type: 'presence', id: 2, topic: 'p.room', subscribers: 3 });
    t.is(await server.presence('p.room'), 3);
    await clients[0]!.request({ type: 'unsubscribe', topic: 'p.room' });
    t.is(await server.presence('p.room'), 2);
    for (const c of clients) c.close();
  });

  test(`[${mode}] the server API: publishMessage returns the offset, history and presence answer`, async (t) => {
    const server = await start(t);
    const client = await StreamClient.connect(server.port);
    await client.request({ type: 'subscribe', topic: 'api.t' });
    const first = await server.publishMessage('api.t', { hello: 1 });
    t.is(first?.offset, 1);
    t.is((await server.publishMessage('api.t', 'two'))?.offset, 2);
    await client.until(() => client.messages().length === 2, 'both server publishes');
    t.deepEqual(client.messages(), [
      { type: 'message', topic: 'api.t', data: { hello: 1 }, offset: 1 },
      { type: 'message', topic: 'api.t', data: 'two', offset: 2 },
    ]);
    const history = await server.history('api.t', { since: { offset: 1, epoch: first!.epoch } });
    t.like(history, { position: { offset: 2, epoch: first!.epoch }, recovered: true });
    t.is(Buffer.from(history!.entries[0]!.payload).toString(), '{"type":"message","topic":"api.t","data":"two","offset":2}');
    t.is(await server.presence('api.t'), 1);
    t.throws(() => server.presence('api.*'), { instanceOf: TypeError });
    client.close();
  });

  test(`[${mode}] historySize 0: no offsets, no epoch, history requests get no_history`, async (t) => {
    const server = await start(t, { historySize: 0 });
    const client = await StreamClient.connect(server.port);
    t.deepEqual(await client.request({ type: 'subscribe', topic: 'off.t' }), { type: 'subscribed', id: 1, topic: 'off.t' });
    t.deepEqual(await client.request({ type: 'publish', topic: 'off.t', data: 1 }), { type: 'published', id: 2, topic: 'off.t' });
    await client.until(() => client.messages().length === 1, 'the delivery');
    t.deepEqual(client.messages(), [{ type: 'message', topic: 'off.t', data: 1 }]);
    t.like(await client.request({ type: 'history', topic: 'off.t' }), { type: 'error', code: 'no_history' });
    t.like(await client.request({ type: 'subscribe', topic: 'off.t', recover: { offset: 0, epoch: 'e' } }), { type: 'subscribed', recovered: false });
    t.is(await server.publishMessage('off.t', 2), undefined);
    client.close();
  });
}

test('history options are checked up front', async (t) => {
  await t.throwsAsync(listen({ port: 0, historySize: -1 }), { instanceOf: TypeError, message: /historySize/ });
  await t.throwsAsync(listen({ port: 0, historyTtlMs: 0 }), { instanceOf: TypeError, message: /historyTtlMs/ });
  await t.throwsAsync(listen({ port: 0, maxHistoryBytes: 1.5 }), { instanceOf: TypeError, message: /maxHistoryBytes/ });
});

test('[2 workers] a subscribe is answered even when an unsubscribe follows before the topic\'s position came back', async (t) => {
  const server = await listen({ port: 0, app: 'pubsub', workers: 2 });
  t.teardown(() => server.close());
  const client = await StreamClient.connect(server.port);
  client.send({ type: 'subscribe', topic: 'quick.t', id: 1, recover: { offset: 0, epoch: 'e' } });
  client.send({ type: 'unsubscribe', topic: 'quick.t', id: 2 });
  await client.until(() => client.received.filter((m) => m.id === 1 || m.id === 2).length === 2, 'both replies');
  t.like(client.received.find((m) => m.id === 1), { type: 'subscribed', topic: 'quick.t', recovered: false });
  t.like(client.received.find((m) => m.id === 2), { type: 'unsubscribed', topic: 'quick.t' });
  await client.request({ type: 'publish', topic: 'quick.t', data: 'nobody' });
  t.deepEqual(client.messages(), [], 'unsubscribed: nothing delivered');
  client.close();
});
