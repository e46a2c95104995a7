import test from 'ava';
import type { LoadResult } from '../../src/load/run.js';
import { parseLoadArgs } from '../../src/load/args.js';
import { checkThresholds, parseThreshold } from '../../src/load/thresholds.js';
import { runLoadCli } from './cli-run.js';
import { startWsEcho } from './servers.js';

test('a threshold is METRIC OP NUMBER; every metric and operator parses', (t) => {
  t.like(parseThreshold('p99 < 5'), { expr: 'p99 < 5', metric: 'p99', op: '<', bound: 5 });
  t.like(parseThreshold('  rate>=1000.5 '), { expr: 'rate>=1000.5', metric: 'rate', op: '>=', bound: 1000.5 });
  t.like(parseThreshold('p99.9 <= 20'), { metric: 'p99_9', op: '<=' });
  for (const metric of ['p50', 'p90', 'p99', 'p99_9', 'max', 'rate', 'errors', 'lost']) {
    for (const op of ['<', '<=', '>', '>=', '==']) t.like(parseThreshold(`${metric} ${op} 1`), { metric, op });
  }
});

test('a malformed threshold is a one-line usage error naming it', (t) => {
  for (const [expr, message] of [
    ['p99 5', /--threshold "p99 5" is not METRIC OP NUMBER/],
    ['p98 < 5', /--threshold "p98 < 5": unknown metric "p98"/],
    ['p99 < five', /--threshold "p99 < five" is not METRIC OP NUMBER/],
    ['p99 != 5', /--threshold "p99 != 5" is not METRIC OP NUMBER/],
  ] as const) {
    const error = t.throws(() => parseLoadArgs(['ws://127.0.0.1:1/', '--threshold', expr]));
    t.regex(error!.message, message);
    t.false(error!.message.includes('\n'));
  }
});

test('thresholds are checked against the summary; a latency without samples fails', (t) => {
  const latencyMs = { count: 10, p50: 1, p90: 2, p99: 3, p99_9: 4, max: 5 };
  const subject = { latencyMs, messages: { receivedPerSecond: 100 }, errorCount: 2 };
  const outcomes = checkThresholds(['p99 < 5', 'max <= 4', 'rate > 50', 'errors == 0', 'lost == 0'].map(parseThreshold), subject);
  t.deepEqual(outcomes, [
    { expr: 'p99 < 5', value: 3, ok: true },
    { expr: 'max <= 4', value: 5, ok: false },
    { expr: 'rate > 50', value: 100, ok: true },
    { expr: 'errors == 0', value: 2, ok: false },
    { expr: 'lost == 0', value: 0, ok: true },
  ]);
  const none = checkThresholds([parseThreshold('p99 < 5')], { ...subject, latencyMs: { ...latencyMs, count: 0 } });
  t.deepEqual(none, [{ expr: 'p99 < 5', value: null, ok: false }]);
});

test('thresholds that hold exit 0 and are in the JSON summary', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const { status, stdout, stderr } = await runLoadCli([server.url, '--connections', '2', '--duration', '1', '--json',
    '--threshold', 'p50 < 60000', '--threshold', 'rate > 0', '--threshold', 'errors == 0']);
  t.is(status, 0, stderr);
  const result = JSON.parse(stdout) as LoadResult;
  t.is(result.thresholds.length, 3);
  t.true(result.thresholds.every((outcome) => outcome.ok));
  t.is(result.thresholds[1].expr, 'rate > 0');
  t.is(result.thresholds[1].value, result.messages.receivedPerSecond);
});

test('a failed threshold is named on a line after the summary and the exit code is 1', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const { status, stdout } = await runLoadCli([server.url, '--connections', '2', '--duration', '1',
    '--threshold', 'p99 < 60000', '--threshold', 'rate < 1', '--threshold', 'errors > 0']);
  t.is(status, 1);
  t.regex(stdout, /\nthresholds +1 of 3 passed; ok p99 < 60000 \(was [\d.]+\); FAILED rate < 1 \(was [\d.]+\); FAILED errors > 0 \(was 0\)\n/);
  t.regex(stdout, /\nthreshold failed: rate < 1 \(was [\d.]+\)\nthreshold failed: errors > 0 \(was 0\)\n$/);
});

test('with --json a failed threshold has ok:false, is named on stderr, and the exit code is 1', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const { status, stdout, stderr } = await runLoadCli([server.url, '--connections', '2', '--duration', '1', '--json', '--threshold', 'p50 > 60000']);
  t.is(status, 1);
  const result = JSON.parse(stdout) as LoadResult;
  t.true(result.ok, 'the run itself succeeded');
  t.is(result.thresholds[0].ok, false);
  t.true(result.thresholds[0].value! > 0);
  t.regex(stderr, /threshold failed: p50 > 60000 \(was [\d.]+\)/);
});
