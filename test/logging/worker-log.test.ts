/**
 * A worker thread's events reach the one log of the process: a connections_shed line from the
 * worker whose send queues passed maxBufferedBytes, as JSON with its fields, and the metric
 * that counts the same drops.
 */
import test from 'ava';
import { fileURLToPath } from 'node:url';
import { listen } from '../../src/index.js';
import { text } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';
import { SilentPeer } from '../robustness/server-process.js';
import { Scrape } from '../metrics/scrape.js';

const MiB = 1024 * 1024;

test('connections shed in a worker are logged once as a JSON line by the main thread, and counted in /metrics', async (t) => {
  const lines: string[] = [];
  const server = await listen({
    port: 0, workers: 1, app: fileURLToPath(new URL('../fixtures/loop-sender-app.js', import.meta.url)),
    maxBufferedBytes: 4 * MiB, closeTimeoutMs: 60_000, metricsPort: 0, logFormat: 'json', log: (line) => lines.push(line),
  });
  t.teardown(() => server.close());
  const peers = await Promise.all([0, 1, 2].map(() => SilentPeer.open(server.port)));
  t.teardown(() => { for (const peer of peers) peer.socket.destroy(); });
  // 12.5 MiB each, under a connection's own cap (17 MiB), over the thread's 4 MiB together.
  for (const peer of peers) peer.send(text('200'));
  await waitFor(() => lines.some((line) => line.includes('"connections_shed"')), 60_000, 50);
  const shed = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.event === 'connections_shed');
  t.is(shed.length, 1, 'one line for the episode');
  t.like(shed[0], { level: 'warn', maxBufferedBytes: 4 * MiB });
  t.true((shed[0]!.connections as number) >= 1);
  const scrape = await Scrape.from(`http://127.0.0.1:${server.metricsPort}/metrics`);
  t.true(scrape.value('wasmsocket_connections_dropped_total', { reason: 'buffer_limit' }) >= (shed[0]!.connections as number));
});
