/**
 * `npm run bench:workers` (issue 3): `wasmsocket serve --app echo` inline (`--workers 0`) against
 * worker mode (`--workers 1`, and `--workers 2` as an extra), echo round trips/s with 100
 * connections at 20 B, 1 KiB, 64 KiB and 1 MiB, and with a CPU-heavy handler (~0.2 ms/message).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Placement } from './measure.js';
import { spawnPinned } from './processes.js';
import { parseBenchOptions, select } from './options.js';
import { echo } from './scenarios.js';
import { COLOURS, HEAVY_APP, ROOT, wasmsocket } from './servers.js';
import { runSuite } from './suite.js';

const options = parseBenchOptions('workers');
const durationS = options.durationS ?? (options.quick ? 3 : 6);
const CPUS = '0,1';

/** Calibrates the heavy handler once, pinned like the servers, so every mode does the same work. */
async function calibrateHeavy(): Promise<number> {
  const script = `import(${JSON.stringify(HEAVY_APP)}).then((m) => console.log(m.calibrate()))`;
  const child = spawnPinned('0', process.execPath, ['-e', script], { HEAVY_ECHO_ITERATIONS: '1' }, ROOT);
  const { code } = await child.exited;
  const iterations = Number(child.stdout().trim());
  if (code !== 0 || !Number.isInteger(iterations) || iterations < 1) throw new Error(`heavy-echo calibration failed: ${child.stderrTail()}`);
  return iterations;
}

/** Re-rendering an earlier run keeps the count that run used. */
function iterationsOf(raw: string): number {
  const path = raw.includes('/') ? raw : join(ROOT, 'bench', 'results', 'raw', raw);
  return Number((JSON.parse(readFileSync(path, 'utf8')) as { placement: Placement }).placement.serverEnv.HEAVY_ECHO_ITERATIONS);
}

const iterations = options.fromRaw !== undefined ? iterationsOf(options.fromRaw) : await calibrateHeavy();
const servers = select([
  wasmsocket('wasm', 0, COLOURS.wasmWasmInline, 'inline (--workers 0)'),
  wasmsocket('wasm', 1, COLOURS.wasmWasmWorker, '--workers 1'),
  wasmsocket('wasm', 2, COLOURS.wasmWorkers2, '--workers 2 (extra)'),
], options.servers, 'server');
const scenarios = select([
  echo(20, 100, durationS),
  echo(1024, 100, durationS),
  echo(64 * 1024, 100, durationS),
  echo(1024 * 1024, 100, durationS),
  echo(20, 100, durationS, 'heavy', 'heavy handler (0.2 ms/msg) echo 20 B, 100 conns'),
], options.scenarios, 'scenario');

const inline = 'wasmsocket-wasm-inline', one = 'wasmsocket-wasm-w1', two = 'wasmsocket-wasm-w2';
await runSuite({
  name: 'workers',
  title: 'Worker pool vs inline: wasmsocket echo (issue 3)',
  method: [
    'Server: `wasmsocket serve --app echo --codec wasm --workers 0|1|2`; the heavy row runs `--app dist/bench/apps/heavy-echo.js`, ' +
      `which does ${iterations.toLocaleString('en-US')} xorshift rounds per message (≈ 0.2 ms, calibrated once on core 0 and passed to every server, so all modes do the same work) and then echoes.`,
    '**Placement: this machine has 2 cores, and worker mode needs both (the main thread does the sockets, a worker the framing and the handler). ' +
      'So every server here runs on `taskset -c 0,1` and the load generator also on `taskset -c 0,1`: each mode gets the same two cores and shares them with the client.** ' +
      'Inline mode can use one of them; pinning the server to a single core would measure worker mode without its point. The client\'s CPU is in the details: what it takes, the server cannot have.',
    `Load: \`wasmsocket load --scenario echo --connections 100 --in-flight 1 --size S\` for ${durationS} s, ASCII text, client codec js below 64 KiB and wasm from 64 KiB. ` +
      'Rate: round trips/s over the steady window (the per-second samples after the first second, up to the end of the duration).',
    'Ratio: each mode ÷ inline. `--workers 2` is an extra column: three busy threads (main, two workers) plus the client on two cores.',
  ],
  placement: { serverCpus: CPUS, loadCpus: CPUS, serverEnv: { HEAVY_ECHO_ITERATIONS: String(iterations) } },
  servers,
  scenarios,
  baseline: inline,
  repetitions: options.repetitions,
  fromRaw: options.fromRaw,
  targets: [
    { label: 'echo 20 B: --workers 1 loses ≤ 10% to inline', metric: 'echo-20-100/round-trips', server: one, versus: inline, atLeast: 0.9 },
    { label: 'echo 64 KiB: --workers 1 ≥ 1.3× inline', metric: 'echo-65536-100/round-trips', server: one, versus: inline, atLeast: 1.3 },
    { label: 'heavy handler: --workers 1 ≥ 1.3× inline', metric: 'heavy-20-100/round-trips', server: one, versus: inline, atLeast: 1.3 },
    { label: '(extra) echo 20 B: --workers 2 loses ≤ 10% to inline', metric: 'echo-20-100/round-trips', server: two, versus: inline, atLeast: 0.9 },
    { label: '(extra) echo 64 KiB: --workers 2 ≥ 1.3× inline', metric: 'echo-65536-100/round-trips', server: two, versus: inline, atLeast: 1.3 },
    { label: '(extra) heavy handler: --workers 2 ≥ 1.3× inline', metric: 'heavy-20-100/round-trips', server: two, versus: inline, atLeast: 1.3 },
  ],
});
