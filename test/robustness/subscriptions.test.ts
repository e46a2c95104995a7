/**
 * Subscription flooding: one connection with very many wildcard patterns that
 * all match one topic made every publish of that topic cost what the client liked, and froze
 * everybody else. Subscriptions are bounded per connection and per thread, a publish visits a
 * subscriber once however many of its patterns match, and a closing flooder is cleaned up.
 */
import test from 'ava';
import { once } from 'node:events';
import WebSocket from 'ws';
import { listen, DEFAULTS } from '../../src/main-thread/server.js';
import { PubsubClient } from '../helpers/pubsub-client.js';
import { CODEC_KINDS } from '../helpers/codecs.js';
import { waitFor } from '../helpers/wait.js';

const SEGMENTS = 20;
/** The topic every flood pattern matches: a.a.a.… (20 segments). */
const TOPIC = Array(SEGMENTS).fill('a').join('.');

/**
 * The n-th of 2^19 distinct patterns that all match TOPIC: bit i of n makes segment i + 1 a `*`
 * (the first segment stays named, as the default topic permissions want).
 */
function floodPattern(n: number): string {
  return Array.from({ length: SEGMENTS }, (_, i) => (i > 0 && (n >> (i - 1)) & 1 ? '*' : 'a')).join('.');
}

/**
 * Sends `count` subscribes at once (patterns from `first` on) and waits for as many replies. The
 * first pattern, a.a.….a, is an exact topic: with history (the default) its reply waits for the
 * topic's position, so it may come after the others' (each reply names its topic).
 */
async function flood(client: PubsubClient, count: number, first = 0): Promise<Array<Record<string, unknown>>> {
  const before = client.replies.length;
  for (let n = first; n < first + count; n++) client.send({ type: 'subscribe', topic: floodPattern(n) });
  await client.until(() => client.replies.length >= before + count, 60_000, `${count} subscribe replies`);
  return client.replies.slice(before);
}

const modes = [
  ...CODEC_KINDS.flatMap((codec) => [{ workers: 0, codec }, { workers: 1, codec }]),
  { workers: 2, codec: 'wasm' as const },
];

for (const { workers, codec } of modes) {
  const mode = `${workers === 0 ? 'inline' : `${workers} workers`}, ${codec}`;

  test(`[${mode}] past maxSubscriptions a subscribe gets too_many_subscriptions, the connection stays open and gets each publish once`, async (t) => {
    const server = await listen({ port: 0, app: 'pubsub', workers, codec, maxSubscriptions: 50 });
    t.teardown(() => server.close());
    const [flooder, bystander, publisher] = await Promise.all(Array.from({ length: 3 }, () => PubsubClient.connect(server.port)));
    const replies = await flood(flooder, 60);
    const patterns = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => floodPattern(from + i)).sort();
    t.deepEqual(replies.filter((reply) => reply.type === 'subscribed').map((reply) => reply.topic).sort(), patterns(0, 50));
    const refused = replies.filter((reply) => reply.type === 'error');
    for (const reply of refused) t.like(reply, { type: 'error', code: 'too_many_subscriptions' });
    t.deepEqual(refused.map((reply) => reply.topic).sort(), patterns(50, 60));
    // Subscribing again to a pattern it has is no new subscription, at the limit too.
    t.like(await flooder.request({ type: 'subscribe', topic: floodPattern(0) }), { type: 'subscribed' });
    // After an unsubscribe there is room for one more.
    await flooder.request({ type: 'unsubscribe', topic: floodPattern(0) });
    t.like(await flooder.request({ type: 'subscribe', topic: floodPattern(50) }), { type: 'subscribed' });
    await bystander.subscribe('chat.room');
    publisher.publish(TOPIC, 'once');
    publisher.publish('chat.room', 'hello');
    await bystander.until(() => bystander.deliveries.length === 1);
    await flooder.until(() => flooder.deliveries.length >= 1);
    // The bystander's delivery was sent after the flooder's; one more publish proves no duplicate was on its way.
    publisher.publish(TOPIC, 'twice');
    await flooder.until(() => flooder.deliveries.length >= 2);
    t.deepEqual(flooder.deliveries, [{ topic: TOPIC, data: 'once' }, { topic: TOPIC, data: 'twice' }], '50 matching patterns, one delivery each');
    t.is(flooder.ws.readyState, WebSocket.OPEN);
    const { pubsub } = await server.stats();
    t.is(pubsub.tooManySubscriptions, 10);
    t.is(pubsub.subscriptions, 51);
    for (const client of [flooder, bystander, publisher]) client.close();
  });

  test(`[${mode}] a connection with the default maximum of wildcard patterns on one topic leaves a bystander answered, and closing it removes them all`, async (t) => {
    const server = await listen({ port: 0, app: 'pubsub', workers, codec });
    t.teardown(() => server.close());
    const [flooder, bystander] = await Promise.all([PubsubClient.connect(server.port), PubsubClient.connect(server.port)]);
    const max = DEFAULTS.maxSubscriptions;
    const replies = await flood(flooder, max + 1);
    t.is(replies.filter((reply) => reply.type === 'subscribed').length, max);
    t.like(replies.find((reply) => reply.type === 'error'), { type: 'error', code: 'too_many_subscriptions' });
    for (let i = 0; i < 20; i++) flooder.publish(TOPIC, i);
    // The bystander's subscribe is answered while (or after) the flooder's publishes are served.
    await bystander.subscribe('chat.room');
    bystander.publish('chat.room', 'still here');
    await bystander.until(() => bystander.deliveries.length === 1, 30_000);
    await flooder.until(() => flooder.deliveries.length >= 20, 30_000);
    flooder.publish('chat.room', 'last');
    await bystander.until(() => bystander.deliveries.length === 2, 30_000);
    t.deepEqual(flooder.deliveries.map((d) => d.data), Array.from({ length: 20 }, (_, i) => i), 'each publish once, in order');
    t.is((await server.stats()).pubsub.subscriptions, max + 1);
    flooder.close();
    await once(flooder.ws, 'close');
    const subscriptions = async () => (await server.stats()).pubsub.subscriptions;
    await waitFor(async () => await subscriptions() === 1, 30_000, 50);
    t.is(await subscriptions(), 1, 'only the bystander\'s subscription is left');
    t.like(await bystander.request({ type: 'subscribe', topic: 'chat.other' }), { type: 'subscribed' });
    bystander.close();
  });

  // One thread (inline, or one worker) holds 30 subscriptions in all: with two, clients could land on either.
  if (workers < 2) test(`[${mode}] past maxTotalSubscriptions of a thread a subscribe is refused and counted`, async (t) => {
    const server = await listen({ port: 0, app: 'pubsub', workers, codec, maxTotalSubscriptions: 30 });
    t.teardown(() => server.close());
    const [a, b] = await Promise.all([PubsubClient.connect(server.port), PubsubClient.connect(server.port)]);
    t.true((await flood(a, 20)).every((reply) => reply.type === 'subscribed'));
    const replies = await flood(b, 20);
    t.is(replies.filter((reply) => reply.type === 'subscribed').length, 10);
    const refused = replies.filter((reply) => reply.type === 'error');
    t.is(refused.length, 10);
    for (const reply of refused) t.like(reply, { type: 'error', code: 'too_many_subscriptions' });
    const { pubsub } = await server.stats();
    t.is(pubsub.tooManyTotalSubscriptions, 10);
    t.is(pubsub.tooManySubscriptions, 0);
    a.close();
    await once(a.ws, 'close');
    await waitFor(async () => (await server.stats()).pubsub.subscriptions === 10, 30_000, 50);
    t.like(await b.request({ type: 'subscribe', topic: 'room.1' }), { type: 'subscribed' }, 'room again once a closed');
    b.close();
  });
}

test('maxSubscriptions and maxTotalSubscriptions are checked like the other whole-number options', async (t) => {
  for (const maxSubscriptions of [0, 1.5, -1]) {
    await t.throwsAsync(listen({ port: 0, maxSubscriptions }), { instanceOf: TypeError, message: /option maxSubscriptions must be a whole number/ });
  }
  await t.throwsAsync(listen({ port: 0, maxTotalSubscriptions: 0 }), { instanceOf: TypeError, message: /option maxTotalSubscriptions/ });
});
