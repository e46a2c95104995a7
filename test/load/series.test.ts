import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLoadArgs } from '../../src/load/args.js';
import { seriesCsv } from '../../src/load/report-csv.js';
import { RunSeries } from '../../src/load/series.js';
import { createHistogram, emptyCounters, encodeHistogram } from '../../src/load/stats.js';
import type { LoadResult } from '../../src/load/run.js';
import { runLoadCli } from './cli-run.js';
import { startWsEcho } from './servers.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'wasmsocket-load-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the JSON summary has a point per second with rates, latency, open connections, errors and CPU', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const { status, stdout, stderr } = await runLoadCli([server.url, '--connections', '3', '--duration', '2.5', '--json']);
  t.is(status, 0, stderr);
  const result = JSON.parse(stdout) as LoadResult;
  t.true(result.series.length >= 2, `${result.series.length} points`);
  for (let i = 1; i < result.series.length; i++) t.true(result.series[i].t > result.series[i - 1].t, 'time goes forward');
  // The last points fall in the traffic: every connection open, replies coming, no errors.
  const busy = result.series.filter((point) => point.received > 0);
  t.true(busy.length >= 1, JSON.stringify(result.series));
  for (const point of busy) {
    t.is(point.open, 3);
    t.true(point.sent > 0);
    t.is(point.errors, 0);
    t.true(point.cpuPercent !== null && point.cpuPercent >= 0 && point.cpuPercent <= 105, `${point.cpuPercent}% is one thread's share`);
  }
  t.true(busy.some((point) => point.p50 !== null && point.p99 !== null && point.p50 > 0 && point.p50 <= point.p99));
  // The per-second rates add up to about the total (within a point: the last partial second is not in the series).
  const total = result.series.reduce((sum, point) => sum + point.received, 0);
  t.true(total > 0 && total <= result.messages.received * 1.5, `${total} vs ${result.messages.received}`);
});

test('--out FILE.csv writes the series, one row per point, empty cells for seconds without latency', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const dir = tempDir(t);
  const csv = join(dir, 'run.csv');
  const json = join(dir, 'run.json');
  const { status, stderr } = await runLoadCli([server.url, '--connections', '2', '--duration', '2', '--out', csv, '--out', json]);
  t.is(status, 0, stderr);
  t.regex(stderr, /wasmsocket load: wrote .*run\.csv\n/);
  const result = JSON.parse(readFileSync(json, 'utf8')) as LoadResult;
  const text = readFileSync(csv, 'utf8');
  t.is(text, seriesCsv(result.series));
  const lines = text.trim().split('\n');
  t.is(lines[0], 't_s,sent_per_s,received_per_s,latency_p50_ms,latency_p99_ms,connections_open,errors_per_s,generator_cpu_percent');
  t.is(lines.length, result.series.length + 1);
  for (const line of lines.slice(1)) t.is(line.split(',').length, 8);
  t.is(seriesCsv([{ t: 1, sent: 0, received: 0, p50: null, p99: null, open: 0, errors: 0, cpuPercent: null }]).split('\n')[1], '1,0,0,,,0,0,');
});

test('--out with an unknown extension or an unwritable path is a one-line error', async (t) => {
  const error = t.throws(() => parseLoadArgs(['ws://127.0.0.1:1/', '--out', 'report.pdf']));
  t.regex(error!.message, /^--out report\.pdf: the name must end in \.csv, \.html or \.json/);
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const { status, stderr } = await runLoadCli([server.url, '--connections', '1', '--duration', '0.5', '--out', '/nonexistent-dir/x.csv']);
  t.is(status, 1);
  t.regex(stderr, /wasmsocket load: --out: ENOENT.*\/nonexistent-dir\/x\.csv/);
});

test('without a TTY a progress line goes to stderr at the interval; --quiet silences it', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const loud = await runLoadCli([server.url, '--connections', '2', '--duration', '2.5', '--progress-interval', '1']);
  t.is(loud.status, 0, loud.stderr);
  const lines = loud.stderr.split('\n').filter((line) => line.startsWith('wasmsocket load: ') && / open \d+\/2 /.test(line));
  t.true(lines.length >= 2, loud.stderr);
  t.false(loud.stderr.includes('\r'), 'whole lines, no carriage returns, in a log');
  t.regex(lines[lines.length - 1], /^wasmsocket load: +\d+s +open 2\/2 +msgs [\d,]+\/s +p50 [\d.]+ ms +p99 [\d.]+ ms +errors 0$/);
  const quiet = await runLoadCli([server.url, '--connections', '2', '--duration', '2.5', '--progress-interval', '1', '--quiet']);
  t.is(quiet.status, 0);
  t.is(quiet.stderr, '');
});

test('without a TTY the default progress interval is 5 s: a 2 s run prints none', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const { status, stderr } = await runLoadCli([server.url, '--connections', '1', '--duration', '2']);
  t.is(status, 0);
  t.is(stderr, '');
  t.is(parseLoadArgs(['ws://127.0.0.1:1/']).progressIntervalS, undefined);
});

test('before any shard has reported, a point has no generator CPU', (t) => {
  t.is(new RunSeries().tick().cpuPercent, null);
});

test('each shard\'s rates come from its own consecutive reports, whatever the coordinator\'s tick', (t) => {
  const series = new RunSeries();
  const base = Date.now();
  const empty = encodeHistogram(createHistogram());
  const counters = (sent: number, received: number, open: number) => ({ ...emptyCounters(), sent, received, openAtEnd: open });
  // Shard 0 reports 1000 more every second; shard 1 reports twice within one of the coordinator's seconds.
  series.shardProgress({ shard: 0, counters: counters(1000, 1000, 5), errors: {}, interval: empty, at: base + 1000, cpuPercent: 90 });
  series.shardProgress({ shard: 0, counters: counters(2000, 2000, 5), errors: {}, interval: empty, at: base + 2000, cpuPercent: 30 });
  series.shardProgress({ shard: 1, counters: counters(500, 400, 3), errors: { refused: 1 }, interval: empty, at: base + 1500, cpuPercent: 70 });
  series.shardProgress({ shard: 1, counters: counters(1000, 900, 3), errors: { refused: 3 }, interval: empty, at: base + 2500, cpuPercent: 40.4 });
  const point = series.tick();
  // The generator's CPU is its busiest thread's, each thread's from its latest report (as the summary's `busiest`).
  t.like(point, { sent: 1000 + 500, received: 1000 + 500, open: 8, errors: 2, p50: null, p99: null, cpuPercent: 40 });
  t.is(series.points.length, 1);
  const progress = series.window();
  t.like(progress, { sentPerSecond: 1500, receivedPerSecond: 1500, open: 8, errorCount: 3 });
});
