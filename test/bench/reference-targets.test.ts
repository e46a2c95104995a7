/**
 * bench:reference judges the per-core targets on its cells' medians: by rates, and per server
 * CPU-second where wsgen was the limit in a cell (its rate there is wsgen's, not the server's).
 */
import test from 'ava';
import { judgeTargets, renderReport, summarizeCell, type ReferenceSample } from '../../bench/reference/report.js';
import type { Target } from '../../bench/e2e/suite-types.js';

const ROW = 'echo-20-100-if4';
const TARGET: Target = { label: 'echo 20 B: inline ≥ 0.9× uWS', metric: `${ROW}/round-trips`, server: 'inline', versus: 'uws', atLeast: 0.9 };
const labelOf = (id: string) => (id === 'uws' ? 'uWebSockets.js' : id);

function sample(server: string, round: number, rate: number, serverCpuPercent: number, cpuPercent: number, error?: string): ReferenceSample {
  return { row: ROW, server, round, rate, serverCpuPercent, cpuPercent, serverWaitPercent: 0, error };
}

test('a cell is the median of its rounds, a failed round left out, with server µs per message and rate per server CPU-s', (t) => {
  const samples = [sample('inline', 1, 100_000, 100, 50), sample('inline', 2, 300_000, 100, 60), sample('inline', 3, 200_000, 100, 70),
    sample('inline', 4, NaN, NaN, NaN, 'wsgen exit 1')];
  const cell = summarizeCell(ROW, 'inline', samples);
  t.is(cell.rate, 200_000);
  t.is(cell.rounds.length, 4);
  t.is(cell.serverMicrosPerMessage, 5); // 100% of a core ÷ 200 000/s
  t.is(cell.perCpuSecond, 200_000);
  t.is(cell.wsgenCpuPercent, 60);
  t.false(cell.generatorBound);
  t.deepEqual(cell.errors, ['wsgen exit 1']);
});

test('a target is judged by rates when wsgen used less than 90% of its core in both cells', (t) => {
  const samples = [sample('inline', 1, 150_000, 100, 60), sample('uws', 1, 200_000, 50, 70)];
  const cells = [summarizeCell(ROW, 'inline', samples), summarizeCell(ROW, 'uws', samples)];
  const [outcome] = judgeTargets([TARGET], cells, labelOf);
  t.is(outcome!.rateRatio, 0.75);
  t.is(outcome!.perCpuRatio, 150_000 / 400_000);
  t.deepEqual(outcome!.generatorBound, []);
  t.false(outcome!.met);
});

test('a target with a generator-bound cell is judged per server CPU-s, and the report says so', (t) => {
  const samples = [sample('inline', 1, 150_000, 60, 70), sample('uws', 1, 200_000, 80, 95)];
  const cells = [summarizeCell(ROW, 'inline', samples), summarizeCell(ROW, 'uws', samples)];
  const outcomes = judgeTargets([TARGET], cells, labelOf);
  t.is(outcomes[0]!.rateRatio, 0.75);
  t.is(outcomes[0]!.perCpuRatio, 1);
  t.deepEqual(outcomes[0]!.generatorBound, ['uWebSockets.js']);
  t.true(outcomes[0]!.met);
  const markdown = renderReport({
    command: 'npm run bench:reference', quick: false, rounds: 1, seconds: 5, warmupS: 1, gcc: 'gcc', startedAt: new Date(), finishedAt: new Date(),
    environment: { commit: 'abc', cpu: 'cpu', loadavg: '0', loadavgAtEnd: '0', serverNodes: 'node' },
    rows: [{ id: ROW, label: 'echo 20 B', unit: 'round trips/s', app: 'echo', run: { mode: 'echo', connections: 100, inFlight: 4, size: 20 } }],
    servers: [], cells, targets: outcomes,
  });
  t.regex(markdown, /\| echo 20 B: inline ≥ 0\.9× uWS \| 0\.75× \| 1\.00× \| met \(goal ≥ 0\.90×, 11% margin\) per server CPU-s, since wsgen was the limit in uWebSockets\.js's cell; by rates \*\*missed\*\*/);
});

test('a target whose server was not measured is left out', (t) => {
  const samples = [sample('uws', 1, 200_000, 80, 70)];
  t.deepEqual(judgeTargets([TARGET], [summarizeCell(ROW, 'uws', samples)], labelOf), []);
});
