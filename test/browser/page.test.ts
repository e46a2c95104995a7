/**
 * The client page end to end in real headless Chromium against the real server (`pubsub` app,
 * inline and with 1 and 2 workers): two pages (two browser contexts) load it from GET /, one publishes, the other
 * shows the delivery live.
 */
import test from 'ava';
import { once } from 'node:events';
import WebSocket from 'ws';
import type { Browser, Page } from 'playwright-core';
import { listen } from '../../src/main-thread/server.js';
import { LOG_LIMIT } from '../../src/pubsub/page.js';
import { launchChromium } from '../helpers/chromium.js';
import { makeCertificate } from '../helpers/certificate.js';

/** Bound for every single wait: generous, a loaded machine must not fail the test. */
const WAIT_MS = 30_000;

/** A fresh context (own cookies, own connection) with the page loaded; records what goes wrong. */
async function openPage(browser: Browser, url: string, problems: string[], requests: string[]): Promise<Page> {
  const context = await browser.newContext();
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => { if (message.type() === 'error') problems.push(`console: ${message.text()}`); });
  page.on('request', (request) => requests.push(request.url()));
  await page.goto(url, { timeout: WAIT_MS });
  return page;
}

for (const workers of [0, 1, 2]) {
  test.serial(`a message published on one page shows live on a page subscribed to a matching pattern [${workers === 0 ? 'inline' : `${workers} workers`}]`, async (t) => {
    t.timeout(120_000);
    const server = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub', workers });
    t.teardown(() => server.close());
    const browser = await launchChromium();
    t.teardown(() => browser.close());

    const origin = `http://127.0.0.1:${server.port}`;
    const problems: string[] = [];
    const requests: string[] = [];
    const [a, b] = await Promise.all([1, 2].map(() => openPage(browser, `${origin}/`, problems, requests)));

    for (const page of [a, b]) {
      t.is(await page.inputValue('#url'), `ws://127.0.0.1:${server.port}/`, 'the URL is derived from location');
      await page.click('#connect');
      await page.locator('#status[data-state="open"]').waitFor();
      t.is(await page.textContent('#status'), 'open');
    }

    await b.fill('#topic', 'chat.*');
    await b.click('#subscribe');
    await b.locator('#subscriptions li[data-topic="chat.*"][data-state="active"]').waitFor();

    // Watched from before the publish: the rate shows 1 only during the second after the delivery.
    const rateShowsOne = b.locator('#rate', { hasText: /^1$/ }).waitFor();
    await a.fill('#publish-topic', 'chat.room1');
    await a.fill('#publish-data', '{"hello":"world"}');
    await a.click('#publish');

    const entry = b.locator('#log li[data-kind="message"]').first();
    await entry.waitFor();
    t.is(await entry.locator('.topic').textContent(), 'chat.room1');
    t.is(await entry.locator('.data').textContent(), '{"hello":"world"}');
    await b.locator('#count', { hasText: /^1$/ }).waitFor();
    await rateShowsOne;

    await a.fill('#publish-topic', 'bad..topic');
    await a.click('#publish');
    const error = a.locator('#error[data-code="bad_topic"]');
    await error.waitFor();
    t.regex((await error.textContent()) ?? '', /^bad_topic: /);
    t.is(await a.textContent('#status'), 'open', 'a bad publish does not close the connection');

    // A refused subscription shows the server's error and leaves the list.
    await b.fill('#topic', 'chat.>.x');
    await b.click('#subscribe');
    await b.locator('#error[data-code="bad_topic"]').waitFor();
    await b.locator('#subscriptions li[data-topic="chat.>.x"]').waitFor({ state: 'detached' });
    t.is(await b.locator('#subscriptions li').count(), 1);

    // A burst from a plain client: every delivery is counted, the log keeps only the newest LOG_LIMIT.
    const publisher = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    t.teardown(() => publisher.terminate());
    await once(publisher, 'open');
    const burst = LOG_LIMIT + 50;
    for (let i = 1; i <= burst; i++) publisher.send(JSON.stringify({ type: 'publish', topic: 'chat.flood', data: i }));
    await b.locator('#count', { hasText: new RegExp(`^${burst + 1}$`) }).waitFor();
    const logged = b.locator('#log li[data-kind="message"]');
    t.is(await logged.count(), LOG_LIMIT);
    t.is(await logged.first().locator('.data').textContent(), String(burst), 'newest first');

    await a.click('#disconnect');
    await a.locator('#status[data-state="closed"]', { hasText: /^closed$/ }).waitFor();

    t.deepEqual(problems, [], 'no script errors, no CSP violations');
    t.deepEqual(requests.sort(), [`${origin}/`, `${origin}/`, `${origin}/client.js`, `${origin}/client.js`], 'the page loads the client and nothing else');
  });

  test.serial(`the browser's new WebSocket(url, ['chat', 'v2']) opens with 'chat' when the server names no subprotocols [${workers === 0 ? 'inline' : `${workers} workers`}]`, async (t) => {
    t.timeout(120_000);
    const server = await listen({ host: '127.0.0.1', port: 0, app: 'echo', workers });
    t.teardown(() => server.close());
    const browser = await launchChromium();
    t.teardown(() => browser.close());
    const page = await (await browser.newContext()).newPage();
    await page.goto(`http://127.0.0.1:${server.port}/healthz`, { timeout: WAIT_MS });
    const outcome = await page.evaluate((url) => new Promise<string>((resolve) => {
      const ws = new WebSocket(url, ['chat', 'v2']);
      ws.onopen = () => { ws.send('echo me'); };
      ws.onmessage = (event) => { resolve(`${ws.protocol}: ${String(event.data)}`); ws.close(); };
      ws.onerror = () => resolve('error');
    }), `ws://127.0.0.1:${server.port}/`);
    t.is(outcome, 'chat: echo me');
  });

  test.serial(`the pub/sub page over https:// connects with wss:// [${workers === 0 ? 'inline' : `${workers} workers`}]`, async (t) => {
    t.timeout(120_000);
    const certificate = makeCertificate();
    t.teardown(() => certificate.remove());
    const server = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub', workers, tls: certificate });
    t.teardown(() => server.close());
    // The test certificate is self-signed: this browser is told to accept it.
    const browser = await launchChromium(['--ignore-certificate-errors']);
    t.teardown(() => browser.close());
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    context.setDefaultTimeout(WAIT_MS);
    const page = await context.newPage();
    await page.goto(`https://127.0.0.1:${server.port}/`, { timeout: WAIT_MS });
    t.is(await page.inputValue('#url'), `wss://127.0.0.1:${server.port}/`, 'the page derives wss:// from https:');
    await page.click('#connect');
    await page.locator('#status[data-state="open"]').waitFor();
    await page.fill('#topic', 'secure.*');
    await page.click('#subscribe');
    await page.locator('#subscriptions li[data-topic="secure.*"][data-state="active"]').waitFor();
    await page.fill('#publish-topic', 'secure.news');
    await page.fill('#publish-data', '"over TLS"');
    await page.click('#publish');
    const entry = page.locator('#log li[data-kind="message"]').first();
    await entry.waitFor();
    t.is(await entry.locator('.data').textContent(), '"over TLS"');
  });
}

test.serial('after a reconnect the page recovers what was published while it was away, once each', async (t) => {
  t.timeout(120_000);
  const server = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub' });
  t.teardown(() => server.close());
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const problems: string[] = [];
  const page = await openPage(browser, `http://127.0.0.1:${server.port}/`, problems, []);
  await page.click('#connect');
  await page.locator('#status[data-state="open"]').waitFor();
  await page.fill('#topic', 'chat.r1');
  await page.click('#subscribe');
  await page.locator('#subscriptions li[data-topic="chat.r1"][data-state="active"]').waitFor();
  await server.publishMessage('chat.r1', 'before');
  await page.locator('#count', { hasText: /^1$/ }).waitFor();
  await page.click('#disconnect');
  await page.locator('#status[data-state="closed"]').waitFor();
  await server.publishMessage('chat.r1', 'missed 1');
  await server.publishMessage('chat.r1', 'missed 2');
  await page.click('#connect');
  await page.locator('#log li[data-kind="info"]', { hasText: 'recovered' }).waitFor();
  await page.locator('#count', { hasText: /^3$/ }).waitFor();
  const recovered = await page.locator('#log li[data-kind="info"]', { hasText: 'recovered' }).first().textContent();
  t.regex(recovered ?? '', /2 missed message\(s\), offsets 2-3/);
  const data = await page.locator('#log li[data-kind="message"] .data').allTextContents();
  t.deepEqual([...data].sort(), ['before', 'missed 1', 'missed 2'], 'each message once');
  t.deepEqual(problems, []);
});
