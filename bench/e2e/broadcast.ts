/**
 * `npm run bench:broadcast`: deliveries/s to 1 000 subscribers of one topic, one node:
 * wasmsocket `--app pubsub` (inline and `--workers 1`) against a `ws` server with the usual
 * send loop (bench/apps/ws-pubsub.ts) and uWebSockets.js's own publish.
 */
import { CLIENT_BOUND_METHOD, STEADY_WINDOW } from './measure.js';
import { parseBenchOptions, select } from './options.js';
import { broadcast, BROADCAST_IN_FLIGHT, broadcastMethod } from './scenarios.js';
import { COLOURS, uwsServer, wasmsocket, wsServer } from './servers.js';
import { runSuite } from './suite.js';

const options = parseBenchOptions('broadcast');
const durationS = options.durationS ?? (options.quick ? 3 : 6);

const servers = select([
  wasmsocket('wasm', 0, COLOURS.wasmWasmInline),
  wasmsocket('wasm', 1, COLOURS.wasmWasmWorker),
  wsServer(false, COLOURS.ws),
  uwsServer(COLOURS.uws),
], options.servers, 'server');
const scenarios = select([
  broadcast(28, 1000, durationS, BROADCAST_IN_FLIGHT),
  broadcast(1024, 1000, durationS, BROADCAST_IN_FLIGHT),
], options.scenarios, 'scenario');

const inline = 'wasmsocket-wasm-inline', one = 'wasmsocket-wasm-w1';
await runSuite({
  name: 'broadcast',
  title: 'Broadcast to 1 000 subscribers, one node',
  method: [
    'Servers, all speaking the same JSON protocol (`subscribe` → `subscribed`; `publish` → `{"type":"message","topic":T,"data":D}` to every subscriber): ' +
      '`wasmsocket serve --app pubsub --codec wasm --workers 0|1`; `ws` 8 with the usual `for (const client of subscribers) client.send(data)` loop ' +
      '(bench/apps/ws-pubsub.ts, the delivery serialized once per publish); uWebSockets.js with `app.publish` (bench/apps/uws-pubsub.ts).',
    '**Placement: every server on core 0 (`taskset -c 0`), the load generator on core 1 (`taskset -c 1`).** `--workers 1` therefore shares its one core between the main thread and the worker: ' +
      'it gets no extra core here, as `ws` and uWebSockets.js get none (this is the one-core comparison the issue asks for; bench:workers shows what a second core does).',
    broadcastMethod(),
    `Rate: deliveries/s received over ${STEADY_WINDOW}: the CLI's own average also counts what arrives while it drains and closes, which flatters an overloaded server. ` +
      `Client-bound: ${CLIENT_BOUND_METHOD}`,
  ],
  placement: { serverCpus: '0', loadCpus: '1', serverEnv: {} },
  servers,
  scenarios,
  baseline: 'ws',
  reference: 'uws',
  repetitions: options.repetitions,
  fromRaw: options.fromRaw,
  targets: [
    { label: 'broadcast 28 B: wasmsocket inline ≥ 2× ws', metric: 'broadcast-28-1000/deliveries', server: inline, versus: 'ws', atLeast: 2 },
    { label: 'broadcast 1 KiB: wasmsocket inline ≥ 2× ws', metric: 'broadcast-1024-1000/deliveries', server: inline, versus: 'ws', atLeast: 2 },
    { label: 'broadcast 28 B: wasmsocket inline ≥ 2× ws, per server CPU-s', metric: 'broadcast-28-1000/deliveries', server: inline, versus: 'ws', atLeast: 2, basis: 'perCpu' },
    { label: 'broadcast 1 KiB: wasmsocket inline ≥ 2× ws, per server CPU-s', metric: 'broadcast-1024-1000/deliveries', server: inline, versus: 'ws', atLeast: 2, basis: 'perCpu' },
    { label: 'broadcast 28 B: wasmsocket --workers 1 ≥ 2× ws', metric: 'broadcast-28-1000/deliveries', server: one, versus: 'ws', atLeast: 2 },
    { label: 'broadcast 1 KiB: wasmsocket --workers 1 ≥ 2× ws', metric: 'broadcast-1024-1000/deliveries', server: one, versus: 'ws', atLeast: 2 },
  ],
});
