/**
 * `npm run bench:e2e`: every server under the same loads, side by side in one run:
 * wasmsocket (wasm and js codec; inline and one worker), `ws`, `ws` + bufferutil, uWebSockets.js.
 * Echo 20 B / 1 KiB / 64 KiB with 100 connections, ping-pong and 4 in flight, and 20 B with 1 000,
 * broadcast to 1 000 subscribers, memory per idle connection and the time to accept a storm of
 * 10 000 connections; with permessage-deflate: echo of 1 KiB and 64 KiB of JSON-like text,
 * broadcast of 1 KiB to 1 000 and idle memory; echo over wss://. Every echo and broadcast row also
 * gives the server's CPU-seconds per million messages, and the wasm and js codecs
 * are compared end to end per row. `--scenarios id,…` reruns rows; the log says how long a run takes.
 */
import { CLIENT_BOUND_METHOD, STEADY_WINDOW } from './measure.js';
import { parseBenchOptions, select } from './options.js';
import { PER_CORE_TARGETS } from './per-core-targets.js';
import { broadcast, BROADCAST_IN_FLIGHT, broadcastMethod, connectStorm, echo } from './scenarios.js';
import { COLOURS, uwsServer, wasmsocket, wasmsocketHistory, wsServer } from './servers.js';
import { runSuite, type Target } from './suite.js';
import { startBenchRedis, type BenchRedis } from './redis.js';

const options = parseBenchOptions('e2e');
const durationS = options.durationS ?? (options.quick ? 2 : 4);
const holdS = options.quick ? 4 : 5;
const STORM = 10_000;
const PIPELINE = 4;
/** The compressed and wss rows: the codec matters less there, the peers' own compression and TLS more. */
const FEATURE_SERVERS = ['wasmsocket-wasm-inline', 'wasmsocket-js-inline', 'ws', 'uws'];

/** The broadcast row that also runs wasmsocket with history off and with history in Redis. */
const HISTORY_ROW = 'broadcast-28-1000';
let redis: BenchRedis | undefined;
const servers = select([
  wasmsocket('wasm', 0, COLOURS.wasmWasmInline),
  wasmsocketHistory('off', COLOURS.wasmHistoryOff, [HISTORY_ROW], () => redis!.url),
  wasmsocketHistory('redis', COLOURS.wasmHistoryRedis, [HISTORY_ROW], () => redis!.url),
  wasmsocket('js', 0, COLOURS.wasmJsInline),
  wasmsocket('wasm', 1, COLOURS.wasmWasmWorker),
  wasmsocket('js', 1, COLOURS.wasmJsWorker),
  wsServer(false, COLOURS.ws),
  wsServer(true, COLOURS.wsNative),
  uwsServer(COLOURS.uws),
], options.servers, 'server');
const scenarios = select([
  echo(20, 100, durationS),
  echo(1024, 100, durationS),
  echo(64 * 1024, 100, durationS),
  echo(20, 100, durationS, { inFlight: PIPELINE }),
  echo(1024, 100, durationS, { inFlight: PIPELINE }),
  echo(64 * 1024, 100, durationS, { inFlight: PIPELINE }),
  echo(20, 1000, durationS),
  broadcast(28, 1000, durationS, BROADCAST_IN_FLIGHT),
  connectStorm(STORM, holdS),
  echo(1024, 100, durationS, { deflate: true, only: FEATURE_SERVERS }),
  echo(64 * 1024, 100, durationS, { deflate: true, only: FEATURE_SERVERS }),
  broadcast(1024, 1000, durationS, BROADCAST_IN_FLIGHT, 1, { deflate: true, only: FEATURE_SERVERS }),
  connectStorm(STORM, holdS, { deflate: true, only: FEATURE_SERVERS }),
  echo(1024, 100, durationS, { tls: true, only: FEATURE_SERVERS }),
], options.scenarios, 'scenario');

const targets: Target[] = [];
for (const codec of ['wasm', 'js']) {
  const server = `wasmsocket-${codec}-inline`;
  targets.push(
    { label: `echo 20 B: wasmsocket ${codec} inline ≥ 1.5× ws`, metric: 'echo-20-100/round-trips', server, versus: 'ws', atLeast: 1.5 },
    { label: `echo 20 B: wasmsocket ${codec} inline ≥ 1.5× ws, per server CPU-s`, metric: 'echo-20-100/round-trips', server, versus: 'ws', atLeast: 1.5, basis: 'perCpu' },
    { label: `echo 64 KiB: wasmsocket ${codec} inline ≥ 1.5× ws + bufferutil`, metric: 'echo-65536-100/round-trips', server, versus: 'ws-bufferutil', atLeast: 1.5 },
    { label: `echo 64 KiB: wasmsocket ${codec} inline ≥ 1.5× ws + bufferutil, per server CPU-s`, metric: 'echo-65536-100/round-trips', server, versus: 'ws-bufferutil', atLeast: 1.5, basis: 'perCpu' },
    { label: `memory per idle connection: wasmsocket ${codec} inline ≤ ws`, metric: `connect-${STORM}/idle-memory`, server, versus: 'ws', atMost: 1 },
  );
}

// Per-core speed, wasm codec, inline and with one worker (bench:reference checks the same with the C generator).
targets.push(...PER_CORE_TARGETS);
for (const server of ['wasmsocket-wasm-inline', 'wasmsocket-wasm-w1']) {
  const mode = server.endsWith('inline') ? 'inline' : '1 worker';
  targets.push(
    { label: `echo 64 KiB: ${mode} ≥ 2× ws + bufferutil`, metric: 'echo-65536-100/round-trips', server, versus: 'ws-bufferutil', atLeast: 2 },
    { label: `echo 20 B server CPU-s per million: ${mode} ≤ 0.4× ws`, metric: 'echo-20-100/server-cpu-per-million', server, versus: 'ws', atMost: 0.4 },
  );
}
for (const [size, atLeast] of [[20, 1], [1024, 1], [65536, 2.5]] as const) {
  targets.push({ label: `echo ${size} B: wasm codec ≥ ${atLeast}× js codec end to end (inline)`, metric: `echo-${size}-100/round-trips`, server: 'wasmsocket-wasm-inline', versus: 'wasmsocket-js-inline', atLeast });
}
// Issue 21 (history): a topic's history must not cost broadcast more than a fifth.
for (const where of ['memory', 'Redis'] as const) {
  targets.push({
    label: `broadcast 28 B to 1 000 with history in ${where} ≥ 0.8× history off`, metric: `${HISTORY_ROW}/deliveries`,
    server: where === 'memory' ? 'wasmsocket-wasm-inline' : 'wasmsocket-wasm-inline-history-redis', versus: 'wasmsocket-wasm-inline-history-off', atLeast: 0.8,
  });
}
// Issue 11 (compression), wasm codec inline.
targets.push(
  { label: 'compressed broadcast 1 KiB to 1 000 ≥ 2× ws, per server CPU-s', metric: 'broadcast-deflate-1024-1000/deliveries', server: 'wasmsocket-wasm-inline', versus: 'ws', atLeast: 2, basis: 'perCpu' },
  { label: 'compressed echo 1 KiB ≥ ws', metric: 'echo-deflate-1024-100/round-trips', server: 'wasmsocket-wasm-inline', versus: 'ws', atLeast: 1 },
  { label: 'compressed echo 64 KiB ≥ ws', metric: 'echo-deflate-65536-100/round-trips', server: 'wasmsocket-wasm-inline', versus: 'ws', atLeast: 1 },
  { label: 'memory per idle compressed connection ≤ ws', metric: 'connect-deflate-10000/idle-memory', server: 'wasmsocket-wasm-inline', versus: 'ws', atMost: 1 },
);

if (options.fromRaw === undefined && servers.some((server) => server.id === 'wasmsocket-wasm-inline-history-redis')
  && scenarios.some((scenario) => scenario.id === HISTORY_ROW)) {
  redis = await startBenchRedis();
}
// The benchmark's redis-server goes with it, whatever the outcome.
await runSuite({
  name: 'e2e',
  title: 'wasmsocket against ws and uWebSockets.js, end to end',
  method: [
    'Servers: `wasmsocket serve --app echo|pubsub --codec wasm|js --workers 0|1` (the echo app declares `messageView`: its handler gets a view of the bytes read, valid during the call, as uWebSockets.js\'s does) (the real CLI, run as its `#!` line runs it, and as `npm start` does: Node with `--max-semi-space-size=1`, in an environment with `MALLOC_TRIM_THRESHOLD_=33554432`; its workers cap their young generation at 3 MiB themselves); `ws` 8 (bench/apps/ws-echo.ts, ws-pubsub.ts) plain, with `WS_NO_BUFFER_UTIL=1`, ' +
      'and with bufferutil (`--native`), on the same Node as wasmsocket; uWebSockets.js v20.30 from `@trufflesuite/uws-js-unofficial` (native binaries for Node 16/18/20 only, so it runs on a system Node that loads them, ' +
      'from PATH or `BENCH_UWS_NODE`; the app refuses the package\'s silent pure-JS fallback). Which Node ran which server: the "Generated" line below. ' +
      'On Node ≥ 18.14, `ws` validates UTF-8 with `buffer.isUtf8` and never loads `utf-8-validate`, so "ws + bufferutil" is also "ws + bufferutil + utf-8-validate". No permessage-deflate except in the "compressed" rows.',
    '**Placement: every server on core 0 (`taskset -c 0`), the load generator on core 1 (`taskset -c 1`).** The "1 worker" columns therefore put the main thread and the worker on the same single core: ' +
      'they show what worker mode costs, not what it gains (bench:workers gives it both cores).',
    `Echo: \`wasmsocket load --scenario echo --connections N --in-flight 1 --size S\` for ${durationS} s, ASCII text (client codec js below 64 KiB, wasm at 64 KiB); rate = round trips/s over ${STEADY_WINDOW}. ` +
      broadcastMethod(),
    `Idle memory and storm, one run per server: \`--scenario connect --connections ${STORM} --ramp 0\` holding for ${holdS} s. Memory = (server RSS at the end of the hold − RSS before the load) ÷ ${STORM.toLocaleString('en-US')}, ` +
      'from /proc/PID/status (a garbage-collected server\'s RSS also holds the storm\'s garbage). Storm = time from the first connect to the last 101 response, as the client saw it (one client thread; SYN retries when the accept queue overflows are included).',
    `Pipelined rows: \`--in-flight ${PIPELINE}\`. "server CPU-s per million" rows: the server's CPU time (all threads, /proc/PID/task/*/stat) over the steady window ÷ the messages (round trips or deliveries) in it × 10⁶, the server's own cost where the client sets the pace.`,
    'Compressed rows: `--deflate --payload json` (generated JSON-like records, about 2.3:1 at 1 KiB and 3.4:1 at 64 KiB with zlib level 6); servers: `wasmsocket serve --deflate` (defaults: from 1 KiB, level 6, no context takeover either way), ' +
      '`ws` with `perMessageDeflate` set the same way (threshold 1024, level 6, memLevel 8, server and client no context takeover), uWebSockets.js with `SHARED_COMPRESSOR`; a server that declines on any connection fails the run. ' +
      'Compressed broadcast: 1 KiB to 1,000, closed loop as above; the one client thread inflates every delivery (a fresh-context inflate each, ≈ 10-20 µs), so this row is usually client-bound: then the CPU row tells what each server pays; `ws` compresses once per subscriber, as its `send` does. Idle memory with `--deflate` as above.',
    'History: wasmsocket keeps 100 messages per topic in memory by default, so its columns are "history on, in memory"; the broadcast 28 B row also runs it with `--history-size 0` (no history, no offsets) and with `--redis URL` (history in Redis Streams, offsets from a Lua script per publish, every delivery coming back through Redis pub/sub), against a redis-server started by the benchmark (not pinned to a core).',
    'wss row: the same echo over TLS (a self-signed P-256 certificate made with openssl, `--insecure` on the client): `wasmsocket serve --cert --key`, `ws` on `node:https`, uWebSockets.js `SSLApp`.',
    `Client-bound: ${CLIENT_BOUND_METHOD}`,
  ],
  placement: { serverCpus: '0', loadCpus: '1', serverEnv: {} },
  servers,
  scenarios,
  baseline: 'ws',
  reference: 'uws',
  repetitions: options.repetitions,
  comparisons: [
    { label: 'wasm ÷ js codec, inline', server: 'wasmsocket-wasm-inline', versus: 'wasmsocket-js-inline' },
    { label: 'wasm ÷ js codec, 1 worker', server: 'wasmsocket-wasm-w1', versus: 'wasmsocket-js-w1' },
  ],
  fromRaw: options.fromRaw,
  targets,
}).finally(() => redis?.stop());
