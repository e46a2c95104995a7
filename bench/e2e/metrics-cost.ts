/**
 * `npm run bench:metrics-cost`: what serving Prometheus metrics costs. `wasmsocket serve` without
 * metrics against the same server with `--metrics-port`, scraped every second during the run
 * the way Prometheus would (GET /metrics, the whole text read), inline and with one worker, on
 * the rows the cost target names: echo 20 B (1 and 4 in flight) and broadcast 28 B to 1 000.
 *
 * The hot-path counters (messages and bytes) are in every build, metrics served or not: to see
 * their cost too, set BENCH_BASELINE_CLI to the dist/src/cli.js of a build without them (the
 * commit before metrics); it joins the run as one more server, inline.
 */
import { existsSync } from 'node:fs';
import { CLIENT_BOUND_METHOD, STEADY_WINDOW } from './measure.js';
import { parseBenchOptions, select } from './options.js';
import { broadcast, BROADCAST_IN_FLIGHT, broadcastMethod, echo } from './scenarios.js';
import { CLI, COLOURS, wasmsocket, type ServerSpec } from './servers.js';
import { runSuite, type Target } from './suite.js';

const options = parseBenchOptions('metrics');
const durationS = options.durationS ?? (options.quick ? 2 : 5);
const SCRAPE_EVERY_MS = 1000;

/** Scrapes `url` every SCRAPE_EVERY_MS until stopped; a failed scrape fails the run. */
function scrapeEverySecond(url: string): () => Promise<void> {
  let failure: Error | undefined;
  let scrapes = 0;
  const timer = setInterval(() => {
    fetch(url).then(async (response) => {
      if (response.status !== 200) throw new Error(`GET ${url}: ${response.status}`);
      await response.text();
      scrapes++;
    }).catch((error: Error) => { failure ??= error; });
  }, SCRAPE_EVERY_MS);
  return async () => {
    clearInterval(timer);
    if (failure !== undefined) throw failure;
    if (scrapes === 0) throw new Error(`${url} was never scraped`);
  };
}

/** `spec` with `--metrics-port 0`, scraped every second at the URL its listening line gives. */
function withMetrics(spec: ServerSpec, colour: string): ServerSpec {
  return {
    ...spec,
    id: `${spec.id}-metrics`,
    label: `${spec.label}, metrics scraped every 1 s`,
    colour,
    args: (app, host, port, variant) => {
      const args = spec.args(app, host, port, variant);
      return args === undefined ? undefined : [...args, '--metrics-port', '0'];
    },
    async sidecar({ stdout }) {
      let url: string | undefined;
      for (let waited = 0; url === undefined && waited < 10_000; waited += 50) {
        url = /metrics (http:\/\/\S+\/metrics)/.exec(stdout())?.[1];
        if (url === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (url === undefined) throw new Error(`no metrics URL in the server's listening line: ${stdout().slice(0, 300)}`);
      return scrapeEverySecond(url);
    },
  };
}

/** The server built from another checkout (BENCH_BASELINE_CLI), inline or with one worker. */
function baselineBuild(cli: string, workers: 0 | 1): ServerSpec {
  const mode = workers === 0 ? 'inline' : '1 worker';
  const spec = wasmsocket('wasm', workers, workers === 0 ? '#7f7f7f' : '#b0b0b0', `wasmsocket wasm, ${mode}, build without metrics (BENCH_BASELINE_CLI)`);
  return {
    ...spec,
    id: `baseline-build-${workers === 0 ? 'inline' : 'w1'}`,
    unavailable: existsSync(cli) ? undefined : `BENCH_BASELINE_CLI=${cli}: no such file`,
    args: (app, host, port, variant) => spec.args(app, host, port, variant)?.map((arg) => (arg === CLI ? cli : arg)),
  };
}

const inlineOff = wasmsocket('wasm', 0, COLOURS.wasmWasmInline, 'wasmsocket wasm, inline');
const workerOff = wasmsocket('wasm', 1, COLOURS.wasmWasmWorker, 'wasmsocket wasm, 1 worker');
const baselineCli = process.env.BENCH_BASELINE_CLI;
const servers = select([
  inlineOff,
  withMetrics(inlineOff, COLOURS.wasmJsInline),
  workerOff,
  withMetrics(workerOff, COLOURS.wasmJsWorker),
  ...(baselineCli === undefined || baselineCli === '' ? [] : [baselineBuild(baselineCli, 0), baselineBuild(baselineCli, 1)]),
], options.servers, 'server');
const scenarios = select([
  echo(20, 100, durationS),
  echo(20, 100, durationS, { inFlight: 4 }),
  broadcast(28, 1000, durationS, BROADCAST_IN_FLIGHT),
], options.scenarios, 'scenario');

const targets: Target[] = [];
for (const off of [inlineOff.id, workerOff.id]) {
  const on = `${off}-metrics`;
  const mode = off.endsWith('inline') ? 'inline' : '1 worker';
  targets.push(
    { label: `echo 20 B: metrics on ≥ 0.97× off (${mode})`, metric: 'echo-20-100/round-trips', server: on, versus: off, atLeast: 0.97 },
    { label: `echo 20 B, 4 in flight: metrics on ≥ 0.97× off (${mode})`, metric: 'echo-20-100-if4/round-trips', server: on, versus: off, atLeast: 0.97 },
    { label: `broadcast 28 B to 1 000: metrics on ≥ 0.97× off (${mode})`, metric: 'broadcast-28-1000/deliveries', server: on, versus: off, atLeast: 0.97 },
    { label: `echo 20 B, 4 in flight: metrics on ≥ 0.97× off per server CPU-s (${mode})`, metric: 'echo-20-100-if4/round-trips', server: on, versus: off, atLeast: 0.97, basis: 'perCpu' },
    { label: `broadcast 28 B to 1 000: metrics on ≥ 0.97× off per server CPU-s (${mode})`, metric: 'broadcast-28-1000/deliveries', server: on, versus: off, atLeast: 0.97, basis: 'perCpu' },
  );
}

await runSuite({
  name: 'metrics-cost',
  title: 'The cost of Prometheus metrics: wasmsocket with and without --metrics-port',
  method: [
    'Servers: `wasmsocket serve --app echo|pubsub --codec wasm --workers 0|1`, and the same with `--metrics-port 0`, ' +
      `whose /metrics the harness GETs every ${SCRAPE_EVERY_MS / 1000} s during the run (each worker then also samples its event-loop delay every 20 ms). ` +
      'The counters metrics read (messages, bytes, handshakes) are kept in every build, served or not: `BENCH_BASELINE_CLI=/path/to/dist/src/cli.js` adds the servers (inline and 1 worker) of a build without them.',
    '**Placement: every server on core 0 (`taskset -c 0`), the load generator on core 1 (`taskset -c 1`); the scraper runs in the harness.**',
    `Echo: \`wasmsocket load --scenario echo --connections 100 --in-flight 1|4 --size 20\` for ${durationS} s. ${broadcastMethod()} Rate over ${STEADY_WINDOW}.`,
    `Ratio: each server ÷ the same mode without metrics. ${CLIENT_BOUND_METHOD}`,
  ],
  placement: { serverCpus: '0', loadCpus: '1', serverEnv: {} },
  servers,
  scenarios,
  baseline: inlineOff.id,
  repetitions: options.repetitions,
  comparisons: [
    { label: 'metrics on ÷ off, inline', server: `${inlineOff.id}-metrics`, versus: inlineOff.id },
    { label: 'metrics on ÷ off, 1 worker', server: `${workerOff.id}-metrics`, versus: workerOff.id },
  ],
  fromRaw: options.fromRaw,
  targets,
});
