/**
 * The servers a benchmark can start: wasmsocket through its real CLI, and the peers from
 * bench/apps/. Each knows the node arguments that run it with a given application on a port.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file runs from dist/bench/e2e/). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');
export const APPS = join(ROOT, 'dist', 'bench', 'apps');
export const HEAVY_APP = join(APPS, 'heavy-echo.js');

/** echo: send back; pubsub: the JSON pub/sub protocol; heavy: echo after ~0.2 ms of CPU work. */
export type AppKind = 'echo' | 'pubsub' | 'heavy';

export interface ServerSpec {
  id: string;
  label: string;
  colour: string;
  /** Node arguments for this app, or undefined when the server has no such app. */
  args(app: AppKind, host: string, port: number): string[] | undefined;
  /** Set when the server cannot run on this machine: every run reports it as an error. */
  unavailable?: string;
}

export function wasmsocket(codec: 'wasm' | 'js', workers: number, colour: string, label?: string): ServerSpec {
  return {
    id: `wasmsocket-${codec}-${workers === 0 ? 'inline' : `w${workers}`}`,
    label: label ?? `wasmsocket ${codec}, ${workers === 0 ? 'inline' : `${workers} worker${workers > 1 ? 's' : ''}`}`,
    colour,
    args: (app, host, port) => [CLI, 'serve', '--host', host, '--port', String(port),
      '--app', app === 'heavy' ? HEAVY_APP : app, '--codec', codec, '--workers', String(workers)],
  };
}

export function wsServer(native: boolean, colour: string): ServerSpec {
  return {
    id: native ? 'ws-bufferutil' : 'ws',
    label: native ? 'ws + bufferutil' : 'ws',
    colour,
    args: (app, host, port) => app === 'heavy' ? undefined
      : [join(APPS, app === 'echo' ? 'ws-echo.js' : 'ws-pubsub.js'), '--host', host, '--port', String(port), ...(native ? ['--native'] : [])],
  };
}

export function uwsServer(colour: string): ServerSpec {
  return {
    id: 'uws',
    label: 'uWebSockets.js',
    colour,
    unavailable: uwsUnavailable(),
    args: (app, host, port) => app === 'heavy' ? undefined
      : [join(APPS, app === 'echo' ? 'uws-echo.js' : 'uws-pubsub.js'), '--host', host, '--port', String(port)],
  };
}

/**
 * Why the uWS binary does not load here, or undefined. Checked in a child process, exactly as the
 * app loads it, so that the harness itself never holds the native module.
 */
function uwsUnavailable(): string | undefined {
  const script = `const { createRequire } = require('node:module'); const { dirname, join } = require('node:path');
const r = createRequire(${JSON.stringify(join(APPS, 'uws-native.js'))});
const dir = dirname(r.resolve('@trufflesuite/uws-js-unofficial/package.json'));
r(join(dir, 'binaries', 'uws_' + process.platform + '_' + process.arch + '_' + process.versions.modules + '.node'));`;
  const check = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
  if (check.status === 0) return undefined;
  const reason = (check.stderr ?? '').split('\n').find((line) => /Error/.test(line)) ?? `exit ${check.status}`;
  return `uWebSockets.js (@trufflesuite/uws-js-unofficial) does not load on Node ${process.version}: ${reason.trim()}`;
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
};
