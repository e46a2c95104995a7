/**
 * The servers a benchmark can start: wasmsocket through its real CLI, and the peers from
 * bench/apps/. Each knows the Node that runs it and the arguments that run it with a given
 * application on a port.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeVersion, systemNodesOnPath } from './node-binaries.js';

/** Repository root (this file runs from dist/bench/e2e/). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');
export const APPS = join(ROOT, 'dist', 'bench', 'apps');
/**
 * The environment and Node flags the CLI's `#!` line gives it (`env -S NAME=VALUE… node FLAGS…`),
 * so that `node FLAGS cli.js` in that environment runs the server as the `wasmsocket` command
 * (and `npm start`) do.
 */
export const { env: CLI_ENV, flags: CLI_NODE_FLAGS } = cliLaunch();

function cliLaunch(): { env: Record<string, string>; flags: string[] } {
  const first = readFileSync(CLI, 'utf8').split('\n', 1)[0]!;
  const match = /^#!\/usr\/bin\/env -S((?: [A-Z_][A-Z0-9_]*=\S+)*) node((?: --[\w-]+(?:=\S+)?)*)$/.exec(first);
  if (match === null) {
    if (first !== '#!/usr/bin/env node') throw new Error(`unexpected #! line in ${CLI}: ${first}`);
    return { env: {}, flags: [] };
  }
  const words = (text: string) => text.trim().split(' ').filter((word) => word !== '');
  const env = Object.fromEntries(words(match[1]!).map((assignment) => {
    const equals = assignment.indexOf('=');
    return [assignment.slice(0, equals), assignment.slice(equals + 1)];
  }));
  return { env, flags: words(match[2]!) };
}
export const HEAVY_APP = join(APPS, 'heavy-echo.js');

/** echo: send back; pubsub: the JSON pub/sub protocol; heavy: echo after ~0.2 ms of CPU work. */
export type AppKind = 'echo' | 'pubsub' | 'heavy';

/** How a scenario wants the server set up besides its app: compression, TLS (PEM file paths). */
export interface ServerVariant {
  deflate: boolean;
  tls?: { cert: string; key: string };
}

export const PLAIN: ServerVariant = { deflate: false };

/** The flags every server here takes for a variant (wasmsocket's CLI and bench/apps/ alike). */
function variantArgs(variant: ServerVariant): string[] {
  return [...(variant.deflate ? ['--deflate'] : []), ...(variant.tls === undefined ? [] : ['--cert', variant.tls.cert, '--key', variant.tls.key])];
}

export interface ServerSpec {
  id: string;
  label: string;
  colour: string;
  /** The Node executable that runs it. */
  node: string;
  /** Environment variables it runs with, besides the harness's own. */
  env?: Record<string, string>;
  /** Node arguments for this app and variant, or undefined when the server has no such app. */
  args(app: AppKind, host: string, port: number, variant?: ServerVariant): string[] | undefined;
  /** Set when the server cannot run on this machine: every run reports it as an error. */
  unavailable?: string;
  /**
   * Started by the harness once the server listens, stopped after the run (the stop function it
   * resolves to): a Prometheus-like scraper, say. It runs in the harness, not on the server's cores.
   */
  sidecar?(server: { host: string; port: number; stdout: () => string }): Promise<() => Promise<void>>;
  /** The scenarios (by id) it runs; every one when unset. */
  onlyFor?: readonly string[];
}

export function wasmsocket(codec: 'wasm' | 'js', workers: number, colour: string, label?: string): ServerSpec {
  return {
    id: `wasmsocket-${codec}-${workers === 0 ? 'inline' : `w${workers}`}`,
    label: label ?? `wasmsocket ${codec}, ${workers === 0 ? 'inline' : `${workers} worker${workers > 1 ? 's' : ''}`}`,
    colour,
    node: process.execPath,
    env: CLI_ENV,
    args: (app, host, port, variant = PLAIN) => [...CLI_NODE_FLAGS, CLI, 'serve', '--host', host, '--port', String(port),
      '--app', app === 'heavy' ? HEAVY_APP : app, '--codec', codec, '--workers', String(workers), ...variantArgs(variant)],
  };
}

/**
 * wasmsocket with pub/sub history set otherwise than by default (history in memory): `off`
 * (`--history-size 0`, no offsets) or `redis` (history in Redis at `redisUrl()`, one node), for
 * the `scenarios` given only.
 */
export function wasmsocketHistory(history: 'off' | 'redis', colour: string, scenarios: readonly string[], redisUrl: () => string): ServerSpec {
  const plain = wasmsocket('wasm', 0, colour);
  return {
    ...plain,
    id: `wasmsocket-wasm-inline-history-${history}`,
    label: history === 'off' ? 'wasmsocket wasm, inline, no history' : 'wasmsocket wasm, inline, history in Redis',
    onlyFor: scenarios,
    args: (app, host, port, variant) => {
      const args = plain.args(app, host, port, variant);
      return args === undefined ? undefined : [...args, ...(history === 'off' ? ['--history-size', '0'] : ['--redis', redisUrl()])];
    },
  };
}

export function wsServer(native: boolean, colour: string): ServerSpec {
  return {
    id: native ? 'ws-bufferutil' : 'ws',
    label: native ? 'ws + bufferutil' : 'ws',
    colour,
    // The same Node as wasmsocket: the comparison is between servers, not between Node versions.
    node: process.execPath,
    args: (app, host, port, variant = PLAIN) => app === 'heavy' ? undefined
      : [join(APPS, app === 'echo' ? 'ws-echo.js' : 'ws-pubsub.js'), '--host', host, '--port', String(port), ...(native ? ['--native'] : []), ...variantArgs(variant)],
  };
}

export function uwsServer(colour: string): ServerSpec {
  const { node, unavailable } = uwsRuntime();
  return {
    id: 'uws',
    label: 'uWebSockets.js',
    colour,
    node,
    unavailable,
    args: (app, host, port, variant = PLAIN) => app === 'heavy' ? undefined
      : [join(APPS, app === 'echo' ? 'uws-echo.js' : 'uws-pubsub.js'), '--host', host, '--port', String(port), ...variantArgs(variant)],
  };
}

/**
 * The Node that loads uWebSockets.js's native binary (the npm build has them for Node 16/18/20
 * only): BENCH_UWS_NODE when set, else the first that loads it of every system `node` on PATH
 * and the harness's own Node. None loads → `unavailable` says what was tried, and every run of
 * this server reports it instead of measuring the package's pure-JS fallback.
 */
function uwsRuntime(): { node: string; unavailable?: string } {
  const override = process.env.BENCH_UWS_NODE;
  const candidates = override !== undefined && override !== '' ? [override] : [...new Set([...systemNodesOnPath(), process.execPath])];
  const failures: string[] = [];
  for (const node of candidates) {
    const reason = uwsLoadFailure(node);
    if (reason === undefined) return { node };
    failures.push(`${node} (${nodeVersion(node) ?? 'does not run'}): ${reason}`);
  }
  return {
    node: candidates[0],
    unavailable: 'uWebSockets.js does not load on any Node tried (@trufflesuite/uws-js-unofficial has native binaries for Node 16/18/20 only; ' +
      `BENCH_UWS_NODE=PATH names one): ${failures.join('; ')}`,
  };
}

/**
 * Why the uWS binary does not load on `node`, or undefined. Checked in a child process of that
 * Node, exactly as the app loads it, so that the harness itself never holds the native module.
 */
function uwsLoadFailure(node: string): string | undefined {
  const script = `const { createRequire } = require('node:module'); const { dirname, join } = require('node:path');
const r = createRequire(${JSON.stringify(join(APPS, 'uws-native.js'))});
const dir = dirname(r.resolve('@trufflesuite/uws-js-unofficial/package.json'));
r(join(dir, 'binaries', 'uws_' + process.platform + '_' + process.arch + '_' + process.versions.modules + '.node'));`;
  const check = spawnSync(node, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
  if (check.status === 0) return undefined;
  if (check.error !== undefined) return check.error.message;
  const reason = (check.stderr ?? '').split('\n').find((line) => /Error/.test(line)) ?? `exit ${check.status}`;
  // "Cannot find module '/…/binaries/uws_linux_x64_147.node'": the file name says it all.
  return reason.replace(/'[^']*\/([^'/]+)'/, "'$1'").trim();
}

/** One colour per server across every chart. */
export const COLOURS = {
  wasmWasmInline: '#1f77b4',
  wasmJsInline: '#17becf',
  wasmWasmWorker: '#9467bd',
  wasmJsWorker: '#e377c2',
  wasmWorkers2: '#8c564b',
  ws: '#7f7f7f',
  wsNative: '#bcbd22',
  uws: '#d62728',
  wasmHistoryOff: '#aec7e8',
  wasmHistoryRedis: '#ff9896',
};

/** bench:scaling's 1, 2, 4, 8… workers, in order (the first two as elsewhere); the last repeats. */
export const WORKER_COLOURS = [COLOURS.wasmWasmWorker, COLOURS.wasmWorkers2, '#2ca02c', '#ff7f0e', '#98df8a', '#ffbb78', '#c5b0d5'];
