/**
 * `npm run bench:workers`: `wasmsocket serve` inline (`--workers 0`) against worker mode
 * (`--workers 1` and `--workers 2`), under two placements in one run:
 *   - server on one core: echo 20 B and 64 KiB × 100 connections, 1 and 4 in flight, and
 *     broadcast 28 B to 1 000 subscribers: what worker mode costs at equal resources;
 *   - server on both cores: echo 20 B, 4 in flight; a CPU-heavy handler (~0.2 ms/message); a
 *     storm of 10 000 connections: what a second core gives.
 */
import { CLIENT_BOUND_METHOD, STEADY_WINDOW } from './measure.js';
import { parseBenchOptions, select } from './options.js';
import { spawnPinned } from './processes.js';
import { broadcast, BROADCAST_IN_FLIGHT, broadcastMethod, connectStorm, echo, pinned, type Pinning, type Scenario } from './scenarios.js';
import { COLOURS, HEAVY_APP, ROOT, wasmsocket } from './servers.js';
import { readRawRun, runSuite } from './suite.js';

const options = parseBenchOptions('workers');
const durationS = options.durationS ?? (options.quick ? 2 : 5);
const holdS = options.quick ? 4 : 5;
const STORM = 10_000;
/** The suite's placement: the server on one core, the client on the other. */
const ONE_CORE: Pinning = { serverCpus: '0', loadCpus: '1' };
/** The server on both cores, the client on the second of them. */
const BOTH_CORES: Pinning = { serverCpus: '0,1', loadCpus: '1' };
const onBothCores = (scenario: Scenario) => pinned(scenario, BOTH_CORES, '2cores', 'server on 2 cores');

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
  return Number(readRawRun(raw).placement.serverEnv.HEAVY_ECHO_ITERATIONS);
}

const iterations = options.fromRaw !== undefined ? iterationsOf(options.fromRaw) : await calibrateHeavy();
const servers = select([
  wasmsocket('wasm', 0, COLOURS.wasmWasmInline, 'inline (--workers 0)'),
  wasmsocket('wasm', 1, COLOURS.wasmWasmWorker, '--workers 1'),
  wasmsocket('wasm', 2, COLOURS.wasmWorkers2, '--workers 2'),
], options.servers, 'server');
const scenarios = select([
  echo(20, 100, durationS),
  echo(20, 100, durationS, { inFlight: 4 }),
  echo(64 * 1024, 100, durationS),
  echo(64 * 1024, 100, durationS, { inFlight: 4 }),
  broadcast(28, 1000, durationS, BROADCAST_IN_FLIGHT),
  onBothCores(echo(20, 100, durationS, { inFlight: 4 })),
  onBothCores(echo(20, 100, durationS, { app: 'heavy', label: 'heavy handler (0.2 ms/msg) echo 20 B, 100 conns' })),
  onBothCores(connectStorm(STORM, holdS)),
], options.scenarios, 'scenario');

const inline = 'wasmsocket-wasm-inline', one = 'wasmsocket-wasm-w1', two = 'wasmsocket-wasm-w2';
await runSuite({
  name: 'workers',
  title: 'Worker pool vs inline: wasmsocket',
  method: [
    'Server: `wasmsocket serve --app echo|pubsub --codec wasm --workers 0|1|2`; the heavy row runs `--app dist/bench/apps/heavy-echo.js`, ' +
      `which does ${iterations.toLocaleString('en-US')} xorshift rounds per message (≈ 0.2 ms, calibrated once on core 0 and passed to every server, so all modes do the same work) and then echoes.`,
    `**Placement, per row. Rows without a note: the server on core 0 (\`taskset -c ${ONE_CORE.serverCpus}\`), the load generator on core 1 (\`taskset -c ${ONE_CORE.loadCpus}\`).** ` +
      'Every mode gets the same single core, so these rows show what worker mode costs (the main thread accepting and handing sockets over, the worker doing the rest), not what it gains; `--workers 2` puts two workers and the main thread on that one core. ' +
      `**Rows marked "server on 2 cores": the server on both cores (\`taskset -c ${BOTH_CORES.serverCpus}\`), the load generator on core 1 (\`taskset -c ${BOTH_CORES.loadCpus}\`)**, sharing it with the server: ` +
      'this 2-core machine has no third core for the client, and these rows show what a second core gives. ' +
      'The 2-core echo row pipelines (4 in flight): with one in flight the single client thread, not the server, is the limit at about the inline rate, so no mode could show a gain.',
    `Echo: \`wasmsocket load --scenario echo --connections 100 --in-flight K --size S\` for ${durationS} s (K = 1, ping-pong, unless the row says "4 in flight": pipelined), ASCII text, client codec js below 64 KiB and wasm at 64 KiB. ` +
      `\`--app pubsub\`. ${broadcastMethod()} ` +
      `Rate: round trips (deliveries) per second over ${STEADY_WINDOW}.`,
    `Storm: \`--scenario connect --connections ${STORM} --ramp 0\`, held ${holdS} s once all are open: the time from the first connect to the last 101 response as the client saw it (lower is better), and from the same run the server's RSS growth per idle connection.`,
    `Ratio: each mode ÷ inline. The client is one \`wasmsocket load\` thread; ${CLIENT_BOUND_METHOD}`,
  ],
  placement: { ...ONE_CORE, serverEnv: { HEAVY_ECHO_ITERATIONS: String(iterations) } },
  servers,
  scenarios,
  baseline: inline,
  repetitions: options.repetitions,
  fromRaw: options.fromRaw,
  targets: [
    { label: 'echo 20 B, 1 in flight: --workers 1 ≥ 0.95× inline', metric: 'echo-20-100/round-trips', server: one, versus: inline, atLeast: 0.95 },
    { label: 'echo 20 B, 4 in flight: --workers 1 ≥ 0.95× inline', metric: 'echo-20-100-if4/round-trips', server: one, versus: inline, atLeast: 0.95 },
    { label: 'echo 64 KiB, 1 in flight: --workers 1 ≥ 0.95× inline', metric: 'echo-65536-100/round-trips', server: one, versus: inline, atLeast: 0.95 },
    { label: 'echo 64 KiB, 4 in flight: --workers 1 ≥ 0.95× inline', metric: 'echo-65536-100-if4/round-trips', server: one, versus: inline, atLeast: 0.95 },
    { label: 'broadcast 28 B to 1,000: --workers 1 ≥ 0.9× inline', metric: 'broadcast-28-1000/deliveries', server: one, versus: inline, atLeast: 0.9 },
    { label: 'server on 2 cores, echo 20 B, 4 in flight: --workers 2 ≥ 1.3× inline', metric: 'echo-20-100-if4-2cores/round-trips', server: two, versus: inline, atLeast: 1.3 },
    { label: 'server on 2 cores, heavy handler: --workers 2 ≥ 1.7× inline', metric: 'heavy-20-100-2cores/round-trips', server: two, versus: inline, atLeast: 1.7 },
  ],
});
