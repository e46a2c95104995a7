/**
 * `wasmsocket/client` in real headless Chromium, imported from the server's /client.js, against
 * real nodes sharing a real Redis with history: a node killed (SIGKILL) mid-stream and restarted,
 * or left for another node, and the page still has every message exactly once and in order; a
 * stopped node (SIGSTOP), which a browser cannot ping, noticed by the client's own check and
 * left; the token function at every attempt and the queue bound; the demo page showing what a
 * reconnect recovered.
 */
import test from 'ava';
import type { Browser, Page } from 'playwright-core';
import { listen } from '../../src/main-thread/server.js';
import { launchChromium } from '../helpers/chromium.js';
import { waitFor } from '../helpers/wait.js';
import { Publisher, TOPIC, WAIT_MS, sequence, startCluster, streamThroughKill, waitForCount, type SubscriberView } from '../client/stream.js';

async function browser(t: { teardown(fn: () => Promise<void>): void }): Promise<Browser> {
  const launched = await launchChromium();
  t.teardown(() => launched.close());
  return launched;
}

/**
 * A page of `origin` (its /healthz: a document without a CSP) that imports the client from
 * `origin`/client.js and subscribes to TOPIC through `urls`.
 */
async function subscriberPage(chromium: Browser, origin: string, urls: string[], options: Record<string, number> = {}): Promise<{ page: Page; view: SubscriberView; problems: string[] }> {
  const context = await chromium.newContext();
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  await page.goto(`${origin}/healthz`, { timeout: WAIT_MS });
  await page.evaluate(async ({ urls, topic, options }) => {
    const { connect } = await import('/client.js' as string) as typeof import('../../src/client/client.js');
    const state = { received: [] as unknown[], unrecovered: [] as string[], client: connect(urls, { minReconnectDelayMs: 20, maxReconnectDelayMs: 200, ...options }) };
    (globalThis as unknown as { subscriber: typeof state }).subscriber = state;
    const subscription = state.client.subscribe(topic, (data) => state.received.push(data));
    subscription.on('unrecovered', (event) => state.unrecovered.push(event.reason));
    await new Promise<void>((resolve) => subscription.on('subscribed', () => resolve()));
  }, { urls, topic: TOPIC, options });
  type Subscriber = { received: unknown[]; unrecovered: string[]; client: { reconnects: number; url: string } };
  const read = <T>(pick: (subscriber: Subscriber) => T) => page.evaluate(`(${pick.toString()})(globalThis.subscriber)`) as Promise<T>;
  const view: SubscriberView = {
    received: () => read((s) => s.received),
    reconnects: () => read((s) => s.client.reconnects),
    unrecovered: () => read((s) => s.unrecovered),
  };
  return { page, view, problems };
}

test('in Chromium: a node killed and restarted mid-stream, then every message exactly once and in order', async (t) => {
  t.timeout(120_000);
  const [a, b] = await startCluster(t, 2);
  const { view, problems } = await subscriberPage(await browser(t), `http://127.0.0.1:${b!.port}`, [a!.url]);
  const published = await streamThroughKill(t, b!.url, view, a!, () => a!.restart());
  await waitForCount(view, published);
  t.deepEqual(await view.received(), sequence(published));
  t.deepEqual(await view.unrecovered(), []);
  t.deepEqual(problems, []);
});

test('in Chromium: failover to a second node when the first is killed, every message exactly once and in order', async (t) => {
  t.timeout(120_000);
  const [a, b, c] = await startCluster(t, 3);
  const { page, view } = await subscriberPage(await browser(t), `http://127.0.0.1:${b!.port}`, [a!.url, c!.url]);
  const published = await streamThroughKill(t, b!.url, view, a!, async () => {});
  await waitForCount(view, published);
  t.deepEqual(await view.received(), sequence(published));
  t.is(await page.evaluate('globalThis.subscriber.client.url'), c!.url);
});

test('in Chromium: a stopped node (SIGSTOP) is noticed without WebSocket pings and left; recovery on the next node', async (t) => {
  t.timeout(120_000);
  const [a, b, c] = await startCluster(t, 3);
  const { page, view } = await subscriberPage(await browser(t), `http://127.0.0.1:${b!.port}`, [a!.url, c!.url],
    { pingIntervalMs: 300, pingTimeoutMs: 5000, connectTimeoutMs: 5000 });
  const publisher = new Publisher(t, b!.url);
  await publisher.publish(5);
  await waitForCount(view, 5);
  t.is(await view.reconnects(), 0, 'still on the first node: the check did not leave a live one');
  a!.process.child.kill('SIGSTOP');
  t.teardown(() => { a!.process.child.kill('SIGCONT'); });
  await publisher.publish(5);
  await waitFor(async () => (await view.reconnects()) >= 1, WAIT_MS, 50);
  t.is(await page.evaluate('globalThis.subscriber.client.url'), c!.url);
  const published = await publisher.publish(5);
  await waitForCount(view, published);
  t.deepEqual(await view.received(), sequence(published), 'what was published while the node was stopped was recovered');
});

test('the demo page shows the state, the reconnect and what was recovered after its node was killed and restarted', async (t) => {
  t.timeout(120_000);
  const [a, b] = await startCluster(t, 2);
  const context = await (await browser(t)).newContext();
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${a!.port}/`, { timeout: WAIT_MS });
  await page.click('#connect');
  await page.locator('#status[data-state="open"]').waitFor();
  await page.fill('#topic', TOPIC);
  await page.click('#subscribe');
  await page.locator(`#subscriptions li[data-topic="${TOPIC}"][data-state="active"]`).waitFor();
  const publisher = new Publisher(t, b!.url);
  await publisher.publish(3);
  await page.locator(`#subscriptions li[data-topic="${TOPIC}"] .position`, { hasText: 'offset 3' }).waitFor();
  await a!.kill();
  await page.locator('#status[data-state="reconnecting"]').waitFor();
  await publisher.publish(4);
  await a!.restart();
  await page.locator('#reconnects', { hasText: /^1$/ }).waitFor();
  const recovered = page.locator('#log li[data-kind="info"]', { hasText: 'recovered' }).first();
  await recovered.waitFor();
  t.regex(await recovered.textContent() ?? '', /4 missed message\(s\), offsets 4-7/);
  await page.locator(`#subscriptions li[data-topic="${TOPIC}"] .position`, { hasText: 'offset 7' }).waitFor();
  t.is(await page.locator('#log li[data-kind="message"] .offset').first().textContent(), '#7');
});

test('in Chromium: the token function is called at every attempt and authorize sees each token; the queue bound holds', async (t) => {
  t.timeout(120_000);
  const seen: string[] = [];
  const authorize = (request: { url: string }) => {
    seen.push(new URL(request.url, 'http://x').searchParams.get('token') ?? '');
    return true;
  };
  const first = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub', authorize });
  t.teardown(() => first.close());
  const port = first.port;
  const context = await (await browser(t)).newContext();
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${port}/healthz`, { timeout: WAIT_MS });
  const outcome = await page.evaluate(async (url) => {
    const { connect } = await import('/client.js' as string) as typeof import('../../src/client/client.js');
    const state = { calls: 0, received: [] as unknown[], client: undefined as unknown };
    (globalThis as unknown as { subscriber: typeof state }).subscriber = state;
    const client = connect(url, { token: async () => `token-${++state.calls}`, maxQueued: 2, minReconnectDelayMs: 20, maxReconnectDelayMs: 200 });
    state.client = client;
    client.subscribe('queue.t', (data) => state.received.push(data));
    const queued = [client.publish('queue.t', 1), client.publish('queue.t', 2)];
    const overflow = await client.publish('queue.t', 3).then(() => 'sent', (error: { code: string }) => error.code);
    return { overflow, acks: await Promise.all(queued) };
  }, `ws://127.0.0.1:${port}/`);
  t.deepEqual(outcome, { overflow: 'queue_full', acks: [{ offset: 1 }, { offset: 2 }] });
  await waitFor(async () => (await page.evaluate('globalThis.subscriber.received.length')) === 2, WAIT_MS);
  t.deepEqual(await page.evaluate('globalThis.subscriber.received'), [1, 2]);

  await first.close();
  const second = await listen({ host: '127.0.0.1', port, app: 'pubsub', authorize });
  t.teardown(() => second.close());
  await waitFor(async () => (await page.evaluate('globalThis.subscriber.client.state')) === 'open', WAIT_MS);
  const calls = await page.evaluate('globalThis.subscriber.calls') as number;
  t.true(calls >= 2, 'called again for the reconnect');
  t.is(seen[0], 'token-1');
  t.is(seen.at(-1), `token-${calls}`, 'the server saw the newest token');
});
