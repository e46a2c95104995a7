/**
 * Subscriptions per remote address: many connections from one address, each within its own
 * maxSubscriptions, cannot fill a thread's maxTotalSubscriptions for every other client. Two
 * client addresses on loopback: 127.0.0.1 and 127.0.0.2.
 */
import test from 'ava';
import { once } from 'node:events';
import { listen, DEFAULTS } from '../../src/main-thread/server.js';
import { parseServeArgs, SERVE_USAGE, UsageError } from '../../src/cli-args.js';
import { PubsubClient } from '../helpers/pubsub-client.js';
import { waitFor } from '../helpers/wait.js';

/** Sends `count` distinct subscribes at once and waits for their replies. */
async function subscribeMany(client: PubsubClient, prefix: string, count: number): Promise<Array<Record<string, unknown>>> {
  const before = client.replies.length;
  for (let i = 0; i < count; i++) client.send({ type: 'subscribe', topic: `${prefix}.${i}` });
  await client.until(() => client.replies.length >= before + count, 60_000, `${count} subscribe replies`);
  return client.replies.slice(before);
}

for (const workers of [0, 2]) {
  const mode = workers === 0 ? 'inline' : `${workers} workers`;

  test(`[${mode}] one address's connections stop at maxSubscriptionsPerIp of each thread; another address still subscribes and gets its deliveries`, async (t) => {
    // Per thread: with 2 workers the flooder's connections spread over both, each thread holds
    // at most 40 of its subscriptions, and neither thread's total (100) is filled by it.
    const server = await listen({ port: 0, app: 'pubsub', workers, maxSubscriptionsPerIp: 40, maxTotalSubscriptions: 100, maxSubscriptions: 50 });
    t.teardown(() => server.close());
    const threads = Math.max(1, workers);
    const flooders = await Promise.all(Array.from({ length: 6 }, () => PubsubClient.connect(server.port)));
    const replies = (await Promise.all(flooders.map((client, i) => subscribeMany(client, `flood.${i}`, 30)))).flat();
    const subscribed = replies.filter((reply) => reply.type === 'subscribed').length;
    const refused = replies.filter((reply) => reply.type === 'error');
    t.true(subscribed <= 40 * threads && subscribed >= 40, `${subscribed} subscribed from one address`);
    t.is(subscribed + refused.length, 180);
    for (const reply of refused) t.like(reply, { code: 'too_many_subscriptions' });
    const { pubsub } = await server.stats();
    t.is(pubsub.tooManySubscriptionsPerIp, refused.length);
    t.is(pubsub.tooManyTotalSubscriptions, 0, 'the totals were never reached');

    // A client from another address still subscribes, and receives.
    const other = await PubsubClient.connect(server.port, '/', '127.0.0.2');
    t.true((await subscribeMany(other, 'room', 30)).every((reply) => reply.type === 'subscribed'), 'another address subscribes');
    flooders[0].publish('room.3', 'hello');
    await other.until(() => other.deliveries.length === 1, 30_000, 'the delivery');
    t.deepEqual(other.deliveries, [{ topic: 'room.3', data: 'hello' }]);

    // Closing the flooders gives their address's subscriptions back.
    for (const client of flooders) client.close();
    await Promise.all(flooders.map((client) => once(client.ws, 'close')));
    await waitFor(async () => (await server.stats()).pubsub.subscriptions === 30, 30_000, 50);
    const again = await PubsubClient.connect(server.port);
    t.true((await subscribeMany(again, 'back', 30)).every((reply) => reply.type === 'subscribed'), 'the address has room again');
    again.close();
    other.close();
  });
}

test('maxSubscriptionsPerIp is an option and a serve flag, checked like the others (0: no limit)', async (t) => {
  t.is(DEFAULTS.maxSubscriptionsPerIp, 10_000);
  t.is(parseServeArgs([]).options.maxSubscriptionsPerIp, DEFAULTS.maxSubscriptionsPerIp);
  t.is(parseServeArgs(['--max-subscriptions-per-ip', '0']).options.maxSubscriptionsPerIp, 0);
  t.is(parseServeArgs(['--max-subscriptions-per-ip', '250']).options.maxSubscriptionsPerIp, 250);
  t.throws(() => parseServeArgs(['--max-subscriptions-per-ip', 'some']), { instanceOf: UsageError, message: /--max-subscriptions-per-ip must be a whole number/ });
  t.regex(SERVE_USAGE, /--max-subscriptions-per-ip N/);
  await t.throwsAsync(listen({ port: 0, maxSubscriptionsPerIp: -1 }), { instanceOf: TypeError, message: /option maxSubscriptionsPerIp must be a whole number ≥ 0/ });
  // 0: one address may hold up to the thread's total.
  const server = await listen({ port: 0, app: 'pubsub', maxSubscriptionsPerIp: 0, maxTotalSubscriptions: 60, maxSubscriptions: 50 });
  t.teardown(() => server.close());
  const [a, b] = await Promise.all([PubsubClient.connect(server.port), PubsubClient.connect(server.port)]);
  t.is((await subscribeMany(a, 'a', 50)).filter((reply) => reply.type === 'subscribed').length, 50);
  const replies = await subscribeMany(b, 'b', 20);
  t.is(replies.filter((reply) => reply.type === 'subscribed').length, 10);
  t.is((await server.stats()).pubsub.tooManyTotalSubscriptions, 10);
  a.close();
  b.close();
});
