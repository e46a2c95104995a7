import test from 'ava';
import { once } from 'node:events';
import WebSocket from 'ws';
import { listen } from '../../src/main-thread/server.js';
import { encodeBinaryRequest } from '../../src/apps/pubsub.js';
import { PubsubClient } from '../helpers/pubsub-client.js';
import { waitFor } from '../helpers/wait.js';

/** The pubsub app is checked inline and in a worker: subscriptions cross threads. */
for (const workers of [0, 1, 2]) {
  const mode = workers === 0 ? 'inline' : `${workers} workers`;

  test(`[${mode}] subscribers of matching patterns receive a publish once, others not at all`, async (t) => {
    const server = await listen({ port: 0, app: 'pubsub', workers });
    t.teardown(() => server.close());
    const [exact, star, tail, other, publisher] = await Promise.all(Array.from({ length: 5 }, () => PubsubClient.connect(server.port)));
    await exact.subscribe('news.sport');
    await star.subscribe('news.*');
    await tail.subscribe('news.>');
    await tail.subscribe('news.sport'); // overlapping patterns: still one delivery
    await other.subscribe('weather.*');
    publisher.publish('news.sport', { score: [2, 1] });
    publisher.publish('news.sport.football', 'deep');
    await exact.until(() => exact.deliveries.length === 1);
    await tail.until(() => tail.deliveries.length === 2);
    await star.until(() => star.deliveries.length === 1);
    t.deepEqual(exact.deliveries, [{ topic: 'news.sport', data: { score: [2, 1] } }]);
    t.deepEqual(star.deliveries, [{ topic: 'news.sport', data: { score: [2, 1] } }]);
    t.deepEqual(tail.deliveries.map((d) => d.topic), ['news.sport', 'news.sport.football']);
    // A publish after the others proves nothing more was on its way to the non-matching client.
    other.publish('weather.today', 'sun');
    await other.until(() => other.deliveries.length === 1);
    t.deepEqual(other.deliveries, [{ topic: 'weather.today', data: 'sun' }]);
    t.is(publisher.deliveries.length, 0);
    for (const client of [exact, star, tail, other, publisher]) client.close();
  });

  test(`[${mode}] unsubscribe and disconnect stop deliveries`, async (t) => {
    const server = await listen({ port: 0, app: 'pubsub', workers });
    t.teardown(() => server.close());
    const [a, b] = await Promise.all([PubsubClient.connect(server.port), PubsubClient.connect(server.port)]);
    await a.subscribe('room.1');
    t.deepEqual(await a.request({ type: 'unsubscribe', topic: 'room.1' }), { type: 'unsubscribed', topic: 'room.1' });
    await a.subscribe('room.2');
    b.publish('room.1', 'nobody');
    b.publish('room.2', 'a hears this');
    await a.until(() => a.deliveries.length === 1);
    t.deepEqual(a.deliveries, [{ topic: 'room.2', data: 'a hears this' }]);
    a.close();
    await once(a.ws, 'close');
    const subscriptions = async () => (await server.stats()).pubsub.subscriptions;
    await waitFor(async () => await subscriptions() === 0, 5000, 50);
    t.is(await subscriptions(), 0, 'a closed connection leaves no subscription behind');
    b.close();
  });

  test(`[${mode}] malformed client messages get error replies and the connection stays open`, async (t) => {
    const server = await listen({ port: 0, app: 'pubsub', workers });
    t.teardown(() => server.close());
    const client = await PubsubClient.connect(server.port);
    const bystander = await PubsubClient.connect(server.port);
    await bystander.subscribe('ok.topic');
    const cases: Array<[unknown, string]> = [
      ['{not json', 'bad_json'],
      ['[1,2]', 'bad_request'],
      ['42', 'bad_request'],
      [{ type: 'dance' }, 'unknown_type'],
      [{ topic: 'a' }, 'unknown_type'],
      [{ type: 'subscribe' }, 'bad_topic'],
      [{ type: 'subscribe', topic: 7 }, 'bad_topic'],
      [{ type: 'subscribe', topic: 'a..b' }, 'bad_topic'],
      [{ type: 'subscribe', topic: 'a.>.b' }, 'bad_topic'],
      [{ type: 'subscribe', topic: 'x'.repeat(257) }, 'topic_too_long'],
      [{ type: 'publish', topic: 'a.*', data: 1 }, 'bad_topic'],
      [{ type: 'publish', topic: 'a b', data: 1 }, 'bad_topic'],
      [{ type: 'publish', topic: 'ok.topic' }, 'bad_request'],
    ];
    for (const [message, code] of cases) {
      const reply = await client.request(message);
      t.is(reply.type, 'error', JSON.stringify(message));
      t.is(reply.code, code, JSON.stringify(message));
      t.is(typeof reply.message, 'string');
    }
    client.ws.send(Buffer.from([9, 1, 0x61]));
    await client.until(() => client.replies.length === cases.length + 1);
    t.is(client.replies.at(-1)?.code, 'unknown_type');
    client.ws.send(Buffer.from([1, 50, 0x61]));
    await client.until(() => client.replies.length === cases.length + 2);
    t.is(client.replies.at(-1)?.code, 'bad_request');
    // Still open and working, and nobody else was disturbed.
    client.publish('ok.topic', 'after all that');
    await bystander.until(() => bystander.deliveries.length === 1);
    t.is(client.ws.readyState, WebSocket.OPEN);
    client.close();
    bystander.close();
  });

  test(`[${mode}] binary publishes are delivered as compact binary frames`, async (t) => {
    const server = await listen({ port: 0, app: 'pubsub', workers });
    t.teardown(() => server.close());
    const [subscriber, publisher] = await Promise.all([PubsubClient.connect(server.port), PubsubClient.connect(server.port)]);
    subscriber.ws.send(encodeBinaryRequest('subscribe', 'ticks.*'));
    await subscriber.until(() => subscriber.replies.length === 1);
    t.deepEqual(subscriber.replies[0], { type: 'subscribed', topic: 'ticks.*' });
    publisher.ws.send(encodeBinaryRequest('publish', 'ticks.eur', Buffer.from([1, 2, 3, 255])));
    await subscriber.until(() => subscriber.binary.length === 1);
    const delivery = subscriber.binary[0];
    t.is(delivery[0], 'ticks.eur'.length);
    t.is(delivery.toString('utf8', 1, 1 + delivery[0]), 'ticks.eur');
    t.deepEqual([...delivery.subarray(1 + delivery[0])], [1, 2, 3, 255]);
    subscriber.close();
    publisher.close();
  });

  test(`[${mode}] 1 000 publishes reach 50 subscribers exactly once and in order`, async (t) => {
    const server = await listen({ port: 0, app: 'pubsub', workers });
    t.teardown(() => server.close());
    const subscribers = await Promise.all(Array.from({ length: 50 }, () => PubsubClient.connect(server.port)));
    await Promise.all(subscribers.map((s) => s.subscribe('feed')));
    const publisher = await PubsubClient.connect(server.port);
    t.true(server.workerLoads.every((load) => load > 0), 'with workers, subscribers and the publisher are spread over all of them');
    for (let i = 0; i < 1000; i++) publisher.publish('feed', i);
    await Promise.all(subscribers.map((s) => s.until(() => s.deliveries.length >= 1000, 20_000)));
    const expected = Array.from({ length: 1000 }, (_, i) => i);
    for (const s of subscribers) t.deepEqual(s.deliveries.map((d) => d.data), expected);
    t.is((await server.stats()).pubsub.deliveries, 50_000);
    for (const s of [...subscribers, publisher]) s.close();
  });
}

for (const policy of ['drop', 'close'] as const) {
  test(`a slow subscriber is handled by the '${policy}' policy and memory stays bounded`, async (t) => {
    const limit = 256 * 1024;
    // The slow subscriber answers our close frame only once it reads again: wait for it however long the firehose takes.
    const server = await listen({ port: 0, app: 'pubsub', workers: 1, slowSubscriberBytes: limit, slowPolicy: policy, closeTimeoutMs: 120_000 });
    t.teardown(() => server.close());
    const slow = await PubsubClient.connect(server.port);
    const fast = await PubsubClient.connect(server.port);
    await slow.subscribe('firehose');
    await fast.subscribe('firehose');
    const slowClosed = new Promise<number>((resolve) => slow.ws.once('close', (code) => resolve(code)));
    const rawSocket = (slow.ws as unknown as { _socket: import('node:net').Socket })._socket;
    rawSocket.pause(); // the slow subscriber stops reading
    const publisher = await PubsubClient.connect(server.port);
    const chunk = 'x'.repeat(16 * 1024);
    // 2 000 × 16 KiB = 32 MiB for the slow subscriber without a policy.
    for (let i = 0; i < 2000; i++) {
      publisher.publish('firehose', chunk);
      if (i % 100 === 99) await fast.until(() => fast.deliveries.length > i - 50, 20_000);
    }
    await fast.until(() => fast.deliveries.length === 2000, 20_000);
    const { bufferedAmount, pubsub } = await server.stats();
    t.true(bufferedAmount < limit + 16 * 1024 * 1024, `server holds ${bufferedAmount} bytes`);
    if (policy === 'drop') {
      t.true(pubsub.dropped > 0, 'deliveries to the slow subscriber were dropped and counted');
      t.is(pubsub.closedSlow, 0);
    } else {
      t.is(pubsub.closedSlow, 1);
      rawSocket.resume();
      t.is(await slowClosed, 1013, 'the slow subscriber is closed with 1013 (try again later)');
    }
    t.is(fast.deliveries.length, 2000, 'a fast subscriber misses nothing');
    for (const c of [fast, publisher]) c.close();
    if (policy === 'drop') slow.ws.terminate();
  });
}
