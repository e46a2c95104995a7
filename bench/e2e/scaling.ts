/**
 * `npm run bench:scaling`: how wasmsocket grows with worker threads, against the single-threaded
 * peers. Echo 20 B × 100 connections, 4 in flight, and broadcast 28 B to 1 000 subscribers, for
 * inline and 1, 2, 4, 8… workers up to os.availableParallelism(), `ws` and uWebSockets.js.
 * The cores are split between the server and a load generator with one thread per core it gets
 * (cpu-split.ts). Needs only this repo built and a Node: no network, no registry; a peer that
 * cannot run here (uWebSockets.js without a Node it loads on) is an error in its column.
 */
import { availableParallelism } from 'node:os';
import { allowedCpus, bySiblings, formatCpuList, parseCpuList, splitCores } from './cpu-split.js';
import { STEADY_WINDOW } from './measure.js';
import { parseBenchOptions, select } from './options.js';
import { broadcast, BROADCAST_IN_FLIGHT, broadcastMethod, echo } from './scenarios.js';
import { COLOURS, uwsServer, wasmsocket, WORKER_COLOURS, wsServer } from './servers.js';
import { readRawRun, runSuite } from './suite.js';

const options = parseBenchOptions('scaling');
const durationS = options.durationS ?? (options.quick ? 2 : 5);
/** Offered publishes/s per load-generator thread: 2M deliveries/s each, above what one client thread receives. */

/** 1, 2, 4, 8… up to `max`, and `max` itself when it is not a power of two. */
function workerCounts(max: number): number[] {
  const counts: number[] = [];
  for (let n = 1; n <= max; n *= 2) counts.push(n);
  if (counts.at(-1) !== max) counts.push(max);
  return counts;
}

interface Layout {
  serverCpus: string;
  loadCpus: string;
  /** The load generator runs on one of the server's CPUs. */
  shared: boolean;
  workerCounts: number[];
}

/** This machine's: its CPUs split (cpu-split.ts), worker counts up to os.availableParallelism(). */
function measuredLayout(): Layout {
  const loadCores = process.env.BENCH_LOAD_CORES;
  const split = splitCores(bySiblings(allowedCpus()), loadCores === undefined || loadCores === '' ? undefined : Number(loadCores));
  return { serverCpus: formatCpuList(split.server), loadCpus: formatCpuList(split.load), shared: split.shared, workerCounts: workerCounts(availableParallelism()) };
}

/** Re-rendering an earlier run (maybe from another machine): its placement and worker counts. */
function recordedLayout(file: string): Layout {
  const raw = readRawRun(file);
  const server = parseCpuList(raw.placement.serverCpus);
  const load = parseCpuList(raw.placement.loadCpus);
  const counts = raw.servers.map((s) => /^wasmsocket-wasm-w(\d+)$/.exec(s.id)?.[1]).filter((n) => n !== undefined).map(Number).sort((a, b) => a - b);
  return { serverCpus: raw.placement.serverCpus, loadCpus: raw.placement.loadCpus, shared: load.some((cpu) => server.includes(cpu)), workerCounts: counts };
}

const layout = options.fromRaw === undefined ? measuredLayout() : recordedLayout(options.fromRaw);
const { serverCpus, loadCpus } = layout;
const serverCpuCount = parseCpuList(serverCpus).length;
const threads = parseCpuList(loadCpus).length;
const maxWorkers = Math.max(...layout.workerCounts);

const servers = select([
  wasmsocket('wasm', 0, COLOURS.wasmWasmInline, 'wasmsocket inline'),
  ...layout.workerCounts.map((n, i) =>
    wasmsocket('wasm', n, WORKER_COLOURS[Math.min(i, WORKER_COLOURS.length - 1)], `wasmsocket --workers ${n}`)),
  wsServer(false, COLOURS.ws),
  uwsServer(COLOURS.uws),
], options.servers, 'server');
const scenarios = select([
  echo(20, 100, durationS, { inFlight: 4, threads }),
  broadcast(28, 1000, durationS, BROADCAST_IN_FLIGHT, threads),
], options.scenarios, 'scenario');

const placement = layout.shared
  ? `**Placement: ${serverCpuCount} CPU${serverCpuCount > 1 ? 's' : ''}, so the server runs on all of them (\`taskset -c ${serverCpus}\`) and the load generator on CPU ${loadCpus} (\`taskset -c ${loadCpus}\`, \`--threads 1\`), sharing it with the server.** ` +
    'With fewer than 3 CPUs this is the only placement that gives the server more than one: a CPU of its own for the client would leave the server nothing to scale onto. What the client takes from that CPU the server cannot have (client CPU in the details).'
  : `**Placement: ${serverCpuCount + threads} CPUs; the server on ${serverCpuCount} (\`taskset -c ${serverCpus}\`), the load generator on the other ${threads} (\`taskset -c ${loadCpus}\`) with \`--threads ${threads}\`, one thread per CPU.** ` +
    'The client spends about as much CPU per message as the server, so it gets half the CPUs (`BENCH_LOAD_CORES=k` gives it k instead): with fewer, it would be the limit before the server\'s cores are busy. ' +
    'CPUs are split by physical core (hyperthread siblings stay on one side). Worker counts above the server\'s CPUs oversubscribe them.';

await runSuite({
  name: 'scaling',
  title: 'Scaling with worker threads: wasmsocket against ws and uWebSockets.js',
  method: [
    `Servers: \`wasmsocket serve --app echo|pubsub --codec wasm --workers 0|${layout.workerCounts.join('|')}\` (worker counts 1, 2, 4… up to os.availableParallelism(), ${maxWorkers} here); ` +
      '`ws` 8 (bench/apps/ws-echo.ts, ws-pubsub.ts; one thread, on the same Node as wasmsocket); uWebSockets.js v20.30 (bench/apps/uws-echo.ts, uws-pubsub.ts; one thread, on a system Node it loads on, `BENCH_UWS_NODE` to choose).',
    placement,
    `Echo: \`wasmsocket load --scenario echo --connections 100 --in-flight 4 --size 20 --threads ${threads}\` for ${durationS} s (pipelined, ASCII text). ` +
      `${broadcastMethod(` --threads ${threads}`)} ` +
      `Rate: per second over ${STEADY_WINDOW}.`,
    'Cells: the median, × wasmsocket inline and × ws. Where the client\'s CPU (details; % of one CPU, all its threads) is near its CPUs × 100%, the client sets the pace, and "per server CPU-s" estimates the server\'s own capacity.',
  ],
  placement: { serverCpus, loadCpus, serverEnv: {} },
  servers,
  scenarios,
  baseline: 'wasmsocket-wasm-inline',
  reference: 'ws',
  repetitions: options.repetitions,
  fromRaw: options.fromRaw,
  targets: [],
});
