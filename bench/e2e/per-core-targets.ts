/**
 * The per-core speed targets, wasm codec, inline and with one worker, server on one core: the
 * ones bench:e2e checks with `wasmsocket load` and bench:reference with the C generator. A metric
 * is bench:e2e's `scenario/metric`; bench:reference names its rows by the same scenario ids.
 */
import type { Target } from './suite-types.js';

const MODES = { 'wasmsocket-wasm-inline': 'inline', 'wasmsocket-wasm-w1': '1 worker' } as const;
const PEERS = { uws: 'uWebSockets.js', 'ws-bufferutil': 'ws + bufferutil' } as const;

function target(row: string, metric: string, what: string, server: keyof typeof MODES, versus: keyof typeof PEERS, atLeast: number, goal?: string): Target {
  const label = `${what}: ${MODES[server]} ≥ ${atLeast}× ${PEERS[versus]}${goal === undefined ? '' : ` (${goal})`}`;
  return { label, metric: `${row}/${metric}`, server, versus, atLeast };
}

function bothModes(row: string, metric: string, what: string, versus: keyof typeof PEERS, atLeast: number, goal?: string): Target[] {
  return (Object.keys(MODES) as (keyof typeof MODES)[]).map((server) => target(row, metric, what, server, versus, atLeast, goal));
}

export const PER_CORE_TARGETS: readonly Target[] = [
  target('echo-20-100-if4', 'round-trips', 'echo 20 B, 4 in flight', 'wasmsocket-wasm-inline', 'uws', 0.9),
  target('echo-20-100-if4', 'round-trips', 'echo 20 B, 4 in flight', 'wasmsocket-wasm-w1', 'uws', 1),
  ...bothModes('echo-65536-100', 'round-trips', 'echo 64 KiB', 'uws', 0.8),
  ...bothModes('broadcast-28-1000', 'deliveries', 'broadcast 28 B to 1 000', 'uws', 0.8, 'the goal is to pass it'),
  ...bothModes('echo-1024-100-if4', 'round-trips', 'echo 1 KiB, 4 in flight', 'ws-bufferutil', 3),
];
