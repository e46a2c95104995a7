/**
 * /metrics on real servers: a `wasmsocket serve` process with two workers scraped over HTTP and
 * read back by a Prometheus text-format parser; its counters move with real client traffic, and
 * the per-worker series add up to the node's figures.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { listen } from '../../src/index.js';
import { launch } from '../helpers/launched-server.js';
import { PubsubClient } from '../helpers/pubsub-client.js';
import { waitFor } from '../helpers/wait.js';
import { Scrape } from './scrape.js';

const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The JSON log lines of a server's output, each parsed. */
function jsonLines(output: string): Record<string, unknown>[] {
  return output.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
}

test('a 2-worker server process: /metrics parses, its counters move with traffic, per-worker series add up to the node', async (t) => {
  const server = await launch(t, process.execPath,
    [cli, 'serve', '--port', '0', '--workers', '2', '--app', 'pubsub', '--metrics-port', '0', '--log-format', 'json'], ROOT);
  const listening = jsonLines(server.output()).find((line) => line.event === 'listening')!;
  t.is(listening.page, `http://127.0.0.1:${server.port}/`);
  const url = listening.metrics as string;
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

  const before = await Scrape.from(url);
  t.is(before.family('wasmsocket_connections_accepted_total').type, 'COUNTER');
  t.is(before.family('wasmsocket_connections').type, 'GAUGE');
  t.is(before.family('wasmsocket_handshake_duration_seconds').type, 'HISTOGRAM');
  t.is(before.value('wasmsocket_connections'), 0);
  t.deepEqual(before.samples('wasmsocket_worker_up').map((sample) => [sample.labels?.worker, sample.value]), [['0', '1'], ['1', '1']]);

  // Six clients, handed one by one to the least-loaded worker: both workers serve some.
  const clients: PubsubClient[] = [];
  for (let i = 0; i < 6; i++) clients.push(await PubsubClient.connect(server.port));
  t.teardown(() => { for (const client of clients) client.close(); });
  for (const client of clients) await client.subscribe('room');
  for (let i = 0; i < 10; i++) clients[0]!.publish('room', `hello ${i}`);
  for (const client of clients) await client.until(() => client.deliveries.length === 10, 10_000, '10 deliveries');

  const after = await Scrape.from(url);
  const delta = (name: string, labels: Record<string, string> = {}) => after.value(name, labels) - before.value(name, labels);
  t.is(after.value('wasmsocket_connections'), 6);
  t.is(after.value('wasmsocket_tcp_connections'), 6);
  const perWorker = after.samples('wasmsocket_worker_connections').map((sample) => Number(sample.value));
  t.is(perWorker.length, 2);
  t.is(perWorker[0]! + perWorker[1]!, 6, 'the workers\' connections add up to the node\'s');
  t.true(perWorker.every((count) => count > 0), `both workers serve clients: ${perWorker}`);
  const health = await (await fetch(`http://127.0.0.1:${server.port}/healthz`)).json() as { workers: number[] };
  t.deepEqual(health.workers, perWorker, '/metrics and /healthz agree per worker');
  // Every worker's messages counted once: 6 subscribes and 10 publishes in, 6 acknowledgements out,
  // and each publish delivered to all 6 subscribers, on its own worker and on the other.
  t.is(delta('wasmsocket_messages_received_total'), 16);
  t.is(delta('wasmsocket_messages_sent_total'), 6);
  t.is(delta('wasmsocket_pubsub_publishes_total'), 10);
  t.is(delta('wasmsocket_pubsub_deliveries_total'), 60);
  t.is(delta('wasmsocket_connections_accepted_total'), 6);
  t.true(delta('wasmsocket_received_bytes_total') >= 16 * 6, 'every client frame has at least a 6-byte header');
  t.true(delta('wasmsocket_sent_bytes_total') >= 66 * 2, 'every server frame has at least a 2-byte header');
  const [handshakes] = after.samples('wasmsocket_handshake_duration_seconds');
  t.is(Number(handshakes!.count), 6);
  t.is(Number(handshakes!.buckets!['+Inf']), 6);
  const cumulative = Object.entries(handshakes!.buckets!).filter(([le]) => le !== '+Inf').sort(([a], [b]) => Number(a) - Number(b)).map(([, count]) => Number(count));
  t.deepEqual(cumulative, [...cumulative].sort((a, b) => a - b), 'buckets are cumulative');
  const loops = after.histogramCounts('wasmsocket_event_loop_delay_seconds', 'thread');
  t.deepEqual(Object.keys(loops), ['main', 'worker0', 'worker1']);
  t.true(Object.values(loops).every((samples) => samples > 0), `every thread sampled its event loop: ${JSON.stringify(loops)}`);
  t.deepEqual(after.samples('wasmsocket_heap_used_bytes').map((sample) => sample.labels?.thread), ['main', 'worker0', 'worker1']);
  t.true(after.value('wasmsocket_process_resident_memory_bytes') > 0);

  // The WebSocket port does not serve the metrics.
  t.is((await fetch(`http://127.0.0.1:${server.port}/metrics`)).status, 404);

  process.kill(server.launcher.pid!, 'SIGTERM');
  await server.exited;
  const lines = jsonLines(server.output());
  for (const line of lines) {
    t.regex(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    t.true(['debug', 'info', 'warn', 'error'].includes(line.level as string), JSON.stringify(line));
    t.regex(String(line.event), /^[a-z]+(_[a-z]+)*$/);
  }
  t.deepEqual(lines.map((line) => line.event), ['listening', 'shutting_down', 'stopped']);
});

/** Sends an upgrade request with `version` and resolves to the status line of the answer. */
async function upgradeStatus(port: number, version: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.end(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
    + `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: ${version}\r\n\r\n`);
  let answer = '';
  for await (const chunk of socket) answer += String(chunk);
  return answer.split('\r\n')[0]!;
}

test('refusals are counted by reason and handshake errors by status', async (t) => {
  const server = await listen({ port: 0, app: 'echo', metricsPort: 0, maxConnectionsPerIp: 1, log: () => {} });
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${server.metricsPort}/metrics`;
  const first = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  await once(first, 'open');
  const second = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  const [, response] = await once(second, 'unexpected-response') as [unknown, { statusCode: number }];
  t.is(response.statusCode, 429);
  first.close();
  await waitFor(async () => (await Scrape.from(url)).value('wasmsocket_tcp_connections') === 0);
  t.is(await upgradeStatus(server.port, '12'), 'HTTP/1.1 426 Upgrade Required');
  const scrape = await Scrape.from(url);
  t.is(scrape.value('wasmsocket_connections_refused_total', { reason: 'max_connections_per_ip' }), 1);
  t.is(scrape.value('wasmsocket_connections_refused_total', { reason: 'max_connections' }), 0);
  t.is(scrape.value('wasmsocket_handshakes_refused_total', { status: '426' }), 1);
  t.is(scrape.value('wasmsocket_connections_accepted_total'), 2);
  t.is(Number(scrape.samples('wasmsocket_handshake_duration_seconds')[0]!.count), 1);
  const direct = new Scrape(await server.metrics());
  t.is(direct.value('wasmsocket_connections_refused_total', { reason: 'max_connections_per_ip' }), 1, 'server.metrics() answers like the endpoint');
  t.deepEqual(direct.names(), scrape.names());
  t.is((await fetch(`http://127.0.0.1:${server.metricsPort}/other`)).status, 404);
});

test('worker events reach the log as JSON lines with their fields', async (t) => {
  const lines: string[] = [];
  const server = await listen({
    port: 0, workers: 1, app: fileURLToPath(new URL('../fixtures/crashing-app.js', import.meta.url)), logFormat: 'json', logLevel: 'debug',
    log: (line) => lines.push(line),
  });
  t.teardown(() => server.close());
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  await once(ws, 'open');
  ws.send('exit');
  await waitFor(() => lines.some((line) => line.includes('"worker_replaced"')), 30_000, 50);
  const replaced = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.event === 'worker_replaced');
  t.like(replaced, { level: 'error', event: 'worker_replaced', worker: 0, restarts: 1 });
  t.regex(String(replaced?.message), /worker 0 died/);
  // At debug level, the first worker's start and its replacement's, each with its own thread.
  await waitFor(() => lines.filter((line) => line.includes('"worker_started"')).length === 2, 30_000, 50);
  const started = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.event === 'worker_started');
  t.is(started.length, 2);
  t.true(started.every((entry) => entry.level === 'debug' && entry.worker === 0));
  t.not(started[0]!.threadId, started[1]!.threadId);
});

test('bad --metrics-port, --log-format and --log-level are one-line usage errors', (t) => {
  for (const [flag, value, expected] of [
    ['--metrics-port', 'abc', /--metrics-port must be a whole number, got "abc"/],
    ['--metrics-port', '70000', /--metrics-port must be between 0 and 65535, got 70000/],
    ['--log-format', 'xml', /--log-format must be "text" or "json", got "xml"/],
    ['--log-level', 'loud', /--log-level must be "debug", "info", "warn" or "error", got "loud"/],
  ] as const) {
    const run = spawnSync(process.execPath, [cli, 'serve', flag, value], { encoding: 'utf8' });
    t.is(run.status, 2, run.stderr);
    t.regex(run.stderr, expected);
    t.is(run.stderr.trimEnd().split('\n').length, 1);
  }
});

test('listen() refuses a bad metricsPort, logFormat or logLevel with a TypeError naming it', async (t) => {
  await t.throwsAsync(listen({ app: 'echo', metricsPort: 65536 }), { instanceOf: TypeError, message: /option metricsPort must be a whole number ≥ 0 and ≤ 65535/ });
  await t.throwsAsync(listen({ app: 'echo', logFormat: 'xml' as never }), { instanceOf: TypeError, message: /option logFormat must be "text" or "json"/ });
  await t.throwsAsync(listen({ app: 'echo', logLevel: 'loud' as never }), { instanceOf: TypeError, message: /option logLevel must be "debug", "info", "warn" or "error"/ });
});

test('a replaced worker\'s counts are carried on: the node\'s counters never fall', async (t) => {
  const server = await listen({
    port: 0, workers: 1, app: fileURLToPath(new URL('../fixtures/crashing-app.js', import.meta.url)), metricsPort: 0, log: () => {},
  });
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${server.metricsPort}/metrics`;
  const echoes = async (count: number) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    await once(ws, 'open');
    for (let i = 0; i < count; i++) {
      ws.send(`m${i}`);
      await once(ws, 'message');
    }
    return ws;
  };
  const first = await echoes(5);
  const before = await Scrape.from(url);
  t.is(before.value('wasmsocket_messages_received_total'), 5);
  const closed = once(first, 'close');
  first.send('exit');
  await closed;
  await waitFor(async () => {
    const scrape = await Scrape.from(url);
    return scrape.value('wasmsocket_worker_restarts_total') === 1 && scrape.value('wasmsocket_worker_up', { worker: '0' }) === 1;
  }, 30_000, 50);
  (await echoes(2)).close();
  const after = await Scrape.from(url);
  t.is(after.value('wasmsocket_worker_restarts_total'), 1);
  // The 5 counted before the crash stay; the "exit" the worker counted after its last answer went with it.
  t.is(after.value('wasmsocket_messages_received_total'), 7);
  t.is(Number(after.samples('wasmsocket_handshake_duration_seconds')[0]!.count), 2, 'the handshake histogram is carried on too');
  t.true(after.value('wasmsocket_received_bytes_total') > before.value('wasmsocket_received_bytes_total'));
});
