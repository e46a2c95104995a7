/**
 * Recovery through `wasmsocket/client` in Node, on real nodes sharing a real Redis with history:
 * a subscriber whose node is killed (SIGKILL) mid-stream, and restarted or left for another
 * node, ends with every acknowledged publish exactly once and in order; a subscriber away for
 * longer than the history holds, or whose topic's history is lost while it is connected, is told
 * (`unrecovered`) and goes on from the current offset; a delivery lost while connected is noticed
 * from the offsets and fetched again.
 */
import test from 'ava';
import WebSocket from 'ws';
import { connect, type Client, type Subscription, type WebSocketConstructor } from '../../src/client/client.js';
import { waitFor } from '../helpers/wait.js';
import { startNode } from './nodes.js';
import { Publisher, TOPIC, WAIT_MS, sequence, startCluster, streamThroughKill, waitForCount, type SubscriberView } from './stream.js';

const QUICK = { minReconnectDelayMs: 20, maxReconnectDelayMs: 200 };

function subscriber(t: { teardown(fn: () => void): void }, urls: string[]): { client: Client; subscription: Subscription; view: SubscriberView; subscribed: Promise<void> } {
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
  return { client, subscription, view, subscribed };
}

for (const workers of [0, 1]) {
  test(`a subscriber whose node is killed and restarted mid-stream gets every message exactly once, in order [${workers === 0 ? 'inline' : `${workers} worker`}]`, async (t) => {
    t.timeout(120_000);
    const [a, b] = await startCluster(t, 2, 100_000, workers);
    const { view, subscribed } = subscriber(t, [a!.url]);
    await subscribed;
    const published = await streamThroughKill(t, b!.url, view, a!, () => a!.restart());
    await waitForCount(view, published);
    t.deepEqual(await view.received(), sequence(published));
    t.deepEqual(await view.unrecovered(), [], 'nothing was lost');
  });
}

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

test('a history lost while connected (its TTL passed: offsets start again under a new epoch) is noticed and said: unrecovered with reason gap', async (t) => {
  t.timeout(120_000);
  const node = await startNode(t, ['--history-ttl', '1']);
  const { client, subscription, view, subscribed } = subscriber(t, [node.url]);
  await subscribed;
  const publisher = new Publisher(t, node.url);
  await publisher.publish(2);
  await waitForCount(view, 2);
  const before = subscription.position!;
  t.is(before.offset, 2);
  // Asking for the history after the TTL starts the topic again: poll until it has.
  await waitFor(async () => (await client.history(TOPIC)).epoch !== before.epoch, WAIT_MS, 250);
  await publisher.publish(1);
  await waitFor(async () => (await view.unrecovered()).length > 0, WAIT_MS);
  t.deepEqual(await view.unrecovered(), ['gap']);
  await publisher.publish(1);
  await waitForCount(view, 3);
  t.deepEqual(await view.received(), [1, 2, 4], 'the subscription goes on under the new epoch; the message that showed the loss is in what was said lost');
});

test('position: a new client starts after a position an earlier one kept, and recovers what was published since', async (t) => {
  const node = await startNode(t);
  const first = subscriber(t, [node.url]);
  await first.subscribed;
  const publisher = new Publisher(t, node.url);
  await publisher.publish(2);
  await waitForCount(first.view, 2);
  const kept = first.subscription.position!;
  first.client.close();
  await publisher.publish(3);

  const client = connect(node.url, QUICK);
  t.teardown(() => client.close());
  t.throws(() => client.subscribe('stream.*', () => {}, { position: kept }), { instanceOf: TypeError, message: /^position needs an exact topic/ });
  t.throws(() => client.subscribe(TOPIC, () => {}, { position: { offset: 'x' } as never }), { instanceOf: TypeError, message: /^position must be/ });
  const received: unknown[] = [];
  const subscription = client.subscribe(TOPIC, (data) => received.push(data), { position: kept });
  const subscribed = await new Promise<{ recovered: boolean; replayed: number }>((resolve) => subscription.on('subscribed', resolve));
  t.like(subscribed, { recovered: true, replayed: 3 });
  await waitFor(() => received.length === 3, WAIT_MS);
  t.deepEqual(received, [3, 4, 5]);
});

/**
 * The `ws` client with one delivery, the first message carrying `offset`, lost on the way in (as
 * a server drops deliveries to a slow subscriber: a hole the client must notice and fill) or
 * passed on twice (a duplicate it must not deliver).
 */
function faultAtOffset(offset: number, fault: 'lose' | 'repeat'): WebSocketConstructor {
  return class FaultyWebSocket {
    readonly #ws: WebSocket;
    #lost = false;
    onopen: ((event: unknown) => void) | null = null;
    onmessage: ((event: { data: unknown }) => void) | null = null;
    onclose: ((event: unknown) => void) | null = null;
    onerror: ((event: unknown) => void) | null = null;
    constructor(url: string) {
      this.#ws = new WebSocket(url);
      this.#ws.onopen = (event) => this.onopen?.(event);
      this.#ws.onclose = (event) => this.onclose?.(event);
      this.#ws.onerror = (event) => this.onerror?.(event);
      this.#ws.onmessage = (event) => {
        const text = String(event.data);
        if (!this.#lost && text.startsWith('{"type":"message"') && (JSON.parse(text) as { offset?: number }).offset === offset) {
          this.#lost = true;
          if (fault === 'lose') return;
          this.onmessage?.({ data: text });
        }
        this.onmessage?.({ data: text });
      };
    }
    get readyState(): number { return this.#ws.readyState; }
    send(data: string): void { this.#ws.send(data); }
    close(code?: number, reason?: string): void { this.#ws.close(code, reason); }
  };
}

for (const fault of ['lose', 'repeat'] as const) {
  test(`a delivery ${fault === 'lose' ? 'lost' : 'repeated'} while connected (offsets that ${fault === 'lose' ? 'skip' : 'go back'}) is settled with the server: every message once, in order, nothing said lost`, async (t) => {
    const node = await startNode(t);
    const client = connect(node.url, { ...QUICK, WebSocket: faultAtOffset(5, fault) });
    t.teardown(() => client.close());
    const received: unknown[] = [];
    const unrecovered: string[] = [];
    const recovered: number[] = [];
    const subscription = client.subscribe(TOPIC, (data) => received.push(data));
    subscription.on('unrecovered', (event) => unrecovered.push(event.reason));
    subscription.on('subscribed', (event) => { if (event.recovered) recovered.push(event.replayed); });
    await new Promise((resolve) => subscription.on('subscribed', resolve));
    const publisher = new Publisher(t, node.url);
    await publisher.publish(10);
    await waitFor(() => received.length >= 10, WAIT_MS);
    await publisher.publish(1);
    await waitFor(() => received.length >= 11, WAIT_MS);
    t.deepEqual(received, sequence(11));
    t.deepEqual(unrecovered, []);
    t.is(recovered.length, 1, 'one resubscription from the last offset delivered');
  });
}
