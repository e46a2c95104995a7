/**
 * Recovery through `wasmsocket/client` in Node, on real nodes sharing a real Redis with history:
 * a subscriber whose node is killed (SIGKILL) mid-stream, and restarted or left for another
 * node, ends with every acknowledged publish exactly once and in order; a subscriber away for
 * longer than the history holds is told (`unrecovered`) and goes on from the current offset.
 */
import test from 'ava';
import { connect, type Client } from '../../src/client/client.js';
import { waitFor } from '../helpers/wait.js';
import { Publisher, TOPIC, WAIT_MS, sequence, startCluster, streamThroughKill, waitForCount, type SubscriberView } from './stream.js';

const QUICK = { minReconnectDelayMs: 20, maxReconnectDelayMs: 200 };

function subscriber(t: { teardown(fn: () => void): void }, urls: string[]): { client: Client; view: SubscriberView; subscribed: Promise<void> } {
  const client = connect(urls, QUICK);
  t.teardown(() => client.close());
  const received: unknown[] = [];
  const unrecovered: string[] = [];
  const subscription = client.subscribe(TOPIC, (data) => received.push(data));
  subscription.on('unrecovered', (event) => unrecovered.push(event.reason));
  const subscribed = new Promise<void>((resolve) => subscription.on('subscribed', () => resolve()));
  const view: SubscriberView = {
    received: async () => received,
    reconnects: async () => client.reconnects,
    unrecovered: async () => unrecovered,
  };
  return { client, view, subscribed };
}

test('a subscriber whose node is killed and restarted mid-stream gets every message exactly once, in order', async (t) => {
  t.timeout(120_000);
  const [a, b] = await startCluster(t, 2);
  const { view, subscribed } = subscriber(t, [a!.url]);
  await subscribed;
  const published = await streamThroughKill(t, b!.url, view, a!, () => a!.restart());
  await waitForCount(view, published);
  t.deepEqual(await view.received(), sequence(published));
  t.deepEqual(await view.unrecovered(), [], 'nothing was lost');
});

test('a subscriber whose node is killed fails over to another node and gets every message exactly once, in order', async (t) => {
  t.timeout(120_000);
  const [a, b, c] = await startCluster(t, 3);
  const { client, view, subscribed } = subscriber(t, [a!.url, c!.url]);
  await subscribed;
  const published = await streamThroughKill(t, b!.url, view, a!, async () => {});
  await waitForCount(view, published);
  t.is(client.url, c!.url);
  t.deepEqual(await view.received(), sequence(published));
  t.deepEqual(await view.unrecovered(), []);
});

test('unrecovered fires when the history is shorter than what was missed; the subscription goes on from there', async (t) => {
  t.timeout(120_000);
  const [a, b] = await startCluster(t, 2, 5);
  const { view, subscribed } = subscriber(t, [a!.url]);
  await subscribed;
  const publisher = new Publisher(t, b!.url);
  await publisher.publish(3);
  await waitForCount(view, 3);
  await a!.kill();
  await publisher.publish(20);
  await a!.restart();
  await waitFor(async () => (await view.unrecovered()).length > 0, WAIT_MS);
  t.deepEqual(await view.unrecovered(), ['server']);
  const last = await publisher.publish(1);
  await waitForCount(view, 4);
  t.deepEqual(await view.received(), [1, 2, 3, last], 'the missed ones are not replayed in part; the next live one arrives');
});
