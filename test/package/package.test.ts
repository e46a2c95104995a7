/**
 * The project as a user gets it: `npm pack` (with its prepack and postpack steps), the tarball
 * installed into a fresh project, the package used from ESM, CommonJS and TypeScript, the README's
 * application example compiled and run against the installed package, the installed command
 * stopped by signals as a supervisor sends them. The package's figures go to
 * bench/results/package.md.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { childrenOf, freePort, launch, stopsCleanly } from '../helpers/launched-server.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
/** What `npm pack` reads: the manifest and its scripts, and the files `files` names. */
const PACKED_FROM = ['package.json', 'README.md', 'LICENSE', 'scripts', 'dist/src', 'build/wasmsocket.wasm'];

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(command, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

interface Packed { filename: string; size: number; unpackedSize: number; entryCount: number; files: { path: string }[] }

/** Set up once: the tarball packed from a copy of the built tree, installed in a fresh project. */
const state: { work: string; packed: Packed; repoManifest: string; packedFromManifest: string; consumer: string } = {} as never;

test.before(() => {
  const work = mkdtempSync(join(tmpdir(), 'wasmsocket-package-'));
  // `npm test` has just built. The prepack step rewrites package.json while npm packs: it runs in
  // a copy, so that the repo's own package.json is never changed under the other tests.
  const source = join(work, 'source');
  for (const path of PACKED_FROM) cpSync(join(ROOT, path), join(source, path), { recursive: true });
  const packed = (JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], source)) as Packed[])[0]!;
  const consumer = join(work, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', join(work, packed.filename)], consumer);
  Object.assign(state, {
    work, packed, consumer,
    repoManifest: readFileSync(join(ROOT, 'package.json'), 'utf8'),
    packedFromManifest: readFileSync(join(source, 'package.json'), 'utf8'),
  });
});

test.after.always(() => {
  if (state.work !== undefined) rmSync(state.work, { recursive: true, force: true });
});

/** Starts `node file` in the consumer project and waits for its line "listening on <json>". */
async function start(cwd: string, file: string, nodeArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; listening: unknown }> {
  const child = spawn(process.execPath, [...nodeArgs, file], { cwd, env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr!.on('data', (text) => { output += text; });
  const listening = await new Promise<unknown>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      output += text;
      const match = /listening on (.+)\n/.exec(output);
      if (match) resolve(JSON.parse(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`${file} exited ${code}: ${output}`)));
  });
  return { child, listening };
}

async function firstMessage(ws: WebSocket): Promise<string> {
  return String((await once(ws, 'message'))[0]);
}

async function roundTrips(port: number): Promise<string> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  await once(ws, 'open');
  ws.send('round trip');
  const echo = await firstMessage(ws);
  ws.close();
  return echo;
}

function status(url: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    ws.once('error', () => resolve(-1));
  });
}

/** A number of bytes as npm prints it (kB = 1000 B). */
const kB = (bytes: number) => `${(bytes / 1000).toFixed(1)} kB`;

test('npm pack: LICENSE and only runtime files ship, the published package.json has no scripts, the repo\'s is restored', (t) => {
  const { packed, consumer } = state;
  const paths = packed.files.map((file) => file.path);
  t.true(paths.includes('build/wasmsocket.wasm'), 'the WASM module ships');
  t.true(paths.includes('dist/src/index.js') && paths.includes('dist/src/index.d.ts'));
  t.true(paths.includes('dist/src/load/index.js') && paths.includes('dist/src/load/index.d.ts'), 'wasmsocket/load ships');
  t.true(paths.includes('dist/src/client/client.js') && paths.includes('dist/src/client/client.d.ts') && paths.includes('dist/src/client/types.d.ts'), 'wasmsocket/client ships');
  t.true(paths.includes('LICENSE'), 'the LICENSE file ships');
  t.deepEqual(paths.filter((path) => !/^(dist\/src\/.+\.(js|d\.ts)|build\/wasmsocket\.wasm|package\.json|README\.md|LICENSE)$/.test(path)), [],
    'nothing but the runtime files (no tests, benches, sources or build scripts)');

  const license = readFileSync(join(consumer, 'node_modules', 'wasmsocket', 'LICENSE'), 'utf8');
  t.regex(license, /^MIT License\n\nCopyright \(c\) wasmsocket contributors\n/);
  const installed = JSON.parse(readFileSync(join(consumer, 'node_modules', 'wasmsocket', 'package.json'), 'utf8')) as Record<string, unknown>;
  t.is(installed.license, 'MIT');
  t.deepEqual(Object.keys(installed.dependencies as object).sort(), ['hdr-histogram-js', 'ioredis', 'piscina', 'prom-client'], 'no compiler at run time');
  for (const field of ['scripts', 'devDependencies', 'devEngines', 'allowScripts', 'ava']) {
    t.false(field in installed, `the published package.json has no "${field}" (no prepare or prepack runs in a consumer)`);
  }
  // The prepack step wrote the published manifest in place; the postpack step put the repo's back.
  t.is(state.packedFromManifest, state.repoManifest, 'package.json restored after npm pack');
  t.false(existsSync(join(state.work, 'source', 'package.json.repo')));

  const repo = JSON.parse(state.repoManifest) as { engines: { node: string }; version: string };
  t.deepEqual(installed.engines, repo.engines);
  // The client as a page gets it from /client.js: the installed file without its source map line.
  const client = readFileSync(join(consumer, 'node_modules', 'wasmsocket', 'dist', 'src', 'client', 'client.js'), 'utf8').replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n');
  const clientBytes = Buffer.byteLength(client);
  const clientGzip = gzipSync(client, { level: 9 }).length;
  const clientBrotli = brotliCompressSync(client).length;
  writeFileSync(join(ROOT, 'bench', 'results', 'package.md'), [
    '# Package size',
    '',
    'Written by `test/package/package.test.ts` at each `npm test`: `npm pack` of the built tree',
    `(wasmsocket ${repo.version}), as npm reports it.`,
    '',
    '| | |',
    '|---|---|',
    `| packed (the .tgz) | ${kB(packed.size)} (${packed.size} B) |`,
    `| unpacked | ${kB(packed.unpackedSize)} (${packed.unpackedSize} B) |`,
    `| files | ${packed.entryCount} |`,
    '',
    '`wasmsocket/client` as `/client.js` serves it (tsc output, comments kept, not minified):',
    '',
    '| | |',
    '|---|---|',
    `| bytes | ${kB(clientBytes)} (${clientBytes} B) |`,
    `| gzip -9 | ${kB(clientGzip)} (${clientGzip} B) |`,
    `| brotli | ${kB(clientBrotli)} (${clientBrotli} B) |`,
    '',
    'Runtime dependencies, installed with it: piscina; ioredis (loaded only when `redis` is set),',
    'prom-client (loaded only when metrics are served or asked for) and hdr-histogram-js (loaded',
    'only by `wasmsocket load` and `wasmsocket/load`).',
    '',
  ].join('\n'));
  t.pass();
});

const CHECK_ESM = `
import { listen, createCodec, CloseCode, WebSocketProtocol, HandshakeError, ProtocolError, topicError } from 'wasmsocket';
if (CloseCode.NORMAL !== 1000 || typeof WebSocketProtocol !== 'function' || typeof topicError !== 'function') throw new Error('exports');
if (!(new HandshakeError(400, 'x') instanceof Error) || typeof ProtocolError !== 'function') throw new Error('error classes');
for (const kind of ['wasm', 'js']) if (createCodec(kind).kind !== kind) throw new Error('codec ' + kind);
const servers = {
  wasm: await listen({ port: 0, app: 'echo', codec: 'wasm' }),
  js: await listen({ port: 0, app: 'echo', codec: 'js' }),
  worker: await listen({ port: 0, app: 'echo', codec: 'wasm', workers: 1 }),
};
console.log('listening on ' + JSON.stringify(Object.fromEntries(Object.entries(servers).map(([k, s]) => [k, s.port]))));
`;

// CommonJS: Node ≥ 22.12 requires an ES module graph without top-level await (the WASM module is
// compiled synchronously on first use), so `exports` offers the same file under `default`.
const CHECK_CJS = `
const wasmsocket = require('wasmsocket');
const { listen, createCodec, CloseCode } = wasmsocket;
if (CloseCode.NORMAL !== 1000 || createCodec('wasm').kind !== 'wasm') throw new Error('exports');
if (require('wasmsocket/package.json').name !== 'wasmsocket') throw new Error('package.json export');
Promise.all([listen({ port: 0, app: 'echo' }), listen({ port: 0, app: 'echo', workers: 1 })]).then(([inline, worker]) => {
  console.log('listening on ' + JSON.stringify({ inline: inline.port, worker: worker.port }));
});
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', skipLibCheck: false,
    types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')],
  },
  include: ['*.ts'],
};

/** `wasmsocket/load`'s types, checked by the same tsc run as the README example. */
const LOAD_TYPES = `
import { parseLoadArgs, runLoad, summaryTable, type LoadOptions, type LoadResult } from 'wasmsocket/load';
export async function measure(url: string): Promise<string> {
  const options: LoadOptions = parseLoadArgs([url, '--connections', '2', '--duration', '1']);
  const result: LoadResult = await runLoad(options);
  return summaryTable(result);
}
`;

test('import from ESM: the exports, both codecs, and a worker loading the package\'s own files', async (t) => {
  writeFileSync(join(state.consumer, 'check.mjs'), CHECK_ESM);
  const esm = await start(state.consumer, 'check.mjs');
  t.teardown(() => esm.child.kill('SIGKILL'));
  for (const port of Object.values(esm.listening as Record<string, number>)) t.is(await roundTrips(port), 'round trip');
});

test('require from CommonJS: the same exports, inline and with a worker', async (t) => {
  writeFileSync(join(state.consumer, 'check.cjs'), CHECK_CJS);
  const cjs = await start(state.consumer, 'check.cjs');
  t.teardown(() => cjs.child.kill('SIGKILL'));
  for (const port of Object.values(cjs.listening as Record<string, number>)) t.is(await roundTrips(port), 'round trip');
});

// Records every resolution of ioredis or hdr-histogram-js, in every thread, to the file $TRACE.
const TRACE_HOOK = `
import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({
  resolve(specifier, context, next) {
    if (/^(ioredis|hdr-histogram-js|prom-client)(\\/|$)/.test(specifier)) appendFileSync(process.env.TRACE, specifier + '\\n');
    return next(specifier, context);
  },
});
`;

const LAZY_CHECK = `
import { readFileSync, writeFileSync } from 'node:fs';
const traced = () => readFileSync(process.env.TRACE, 'utf8').split('\\n').filter(Boolean);
writeFileSync(process.env.TRACE, '');
const { listen } = await import('wasmsocket');
const servers = [await listen({ port: 0, app: 'pubsub' }), await listen({ port: 0, app: 'pubsub', workers: 1 })];
for (const server of servers) await server.close();
const afterServer = traced();
const load = await import('wasmsocket/load');
console.log('listening on ' + JSON.stringify({ afterServer, afterLoad: traced(), load: Object.keys(load) }));
`;

/** `wasmsocket/client`'s types, checked by the same tsc run as the README example. */
const CLIENT_TYPES = `
import { connect, ClientError, type Client, type ClientState, type Subscription, type UnrecoveredEvent } from 'wasmsocket/client';
export async function follow(urls: string[]): Promise<number | undefined> {
  const client: Client = connect(urls, { token: async () => 'secret', maxQueued: 10, pingIntervalMs: 5000 });
  client.on('state', (state: ClientState) => void state);
  const subscription: Subscription = client.subscribe('a.b', (data: unknown, info) => void info.offset, { recover: true });
  subscription.on('unrecovered', (event: UnrecoveredEvent) => void event.reason);
  try {
    return (await client.publish('a.b', { n: 1 }, { self: false })).offset;
  } catch (error) {
    if (error instanceof ClientError) return error.code.length;
    throw error;
  }
}
`;

/** Starts `node file` in `cwd` and resolves with its output once it has printed every one of `lines`. */
async function outputOf(t: ExecutionContext, cwd: string, file: string, env: NodeJS.ProcessEnv, lines: string[]): Promise<string> {
  const child = spawn(process.execPath, [file], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let output = '';
  return new Promise((resolve, reject) => {
    const collect = (text: string) => {
      output += text;
      if (lines.every((line) => output.includes(`${line}\n`))) resolve(output);
    };
    child.stdout!.setEncoding('utf8').on('data', collect);
    child.stderr!.setEncoding('utf8').on('data', collect);
    child.once('exit', (code) => reject(new Error(`${file} exited ${code}: ${output}`)));
  });
}

test('wasmsocket/client: the README\'s Node example, as it stands in the README, runs from the installed package against the installed server', async (t) => {
  const { consumer } = state;
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const example = /<!-- readme-client-example:start -->\n```js\n([\s\S]*?)```\n<!-- readme-client-example:end -->/.exec(readme);
  if (example === null) return t.fail('README.md has no readme-client-example block');
  writeFileSync(join(consumer, 'client-example.mjs'), example[1]!);
  writeFileSync(join(consumer, 'client-server.mjs'), `
import { listen } from 'wasmsocket';
const server = await listen({ port: 0, app: 'pubsub' });
console.log('listening on ' + JSON.stringify({ port: server.port }));
`);
  const server = await start(consumer, 'client-server.mjs');
  t.teardown(() => server.child.kill('SIGKILL'));
  const { port } = server.listening as { port: number };
  const output = await outputOf(t, consumer, 'client-example.mjs', { WASMSOCKET_URL: `ws://127.0.0.1:${port}/` },
    ['state: open', 'published at offset 1', 'order #1: book']);
  t.notRegex(output, /missed/);
});

test('importing wasmsocket loads neither ioredis, hdr-histogram-js nor prom-client; wasmsocket/load loads hdr-histogram-js', async (t) => {
  const { consumer } = state;
  writeFileSync(join(consumer, 'trace-hook.mjs'), TRACE_HOOK);
  writeFileSync(join(consumer, 'lazy-check.mjs'), LAZY_CHECK);
  const lazy = await start(consumer, 'lazy-check.mjs', ['--import', './trace-hook.mjs'], { TRACE: join(consumer, 'trace.txt') });
  t.teardown(() => lazy.child.kill('SIGKILL'));
  const { afterServer, afterLoad, load } = lazy.listening as { afterServer: string[]; afterLoad: string[]; load: string[] };
  t.deepEqual(afterServer, [], 'a server without redis or metrics, inline and with a worker, resolves none of these packages');
  t.true(afterLoad.includes('hdr-histogram-js'), 'the hook sees the load generator\'s dependency (the check above is not vacuous)');
  t.false(afterLoad.includes('ioredis'));
  t.deepEqual(load.sort(), ['LOAD_DEFAULTS', 'UsageError', 'parseLoadArgs', 'runLoad', 'summaryTable']);
});

test('wasmsocket/load runs a short load from ESM and CommonJS against the installed server', async (t) => {
  const { consumer } = state;
  writeFileSync(join(consumer, 'load.mjs'), `
import { listen } from 'wasmsocket';
import { parseLoadArgs, runLoad } from 'wasmsocket/load';
import { createRequire } from 'node:module';
const server = await listen({ port: 0, app: 'echo' });
const url = 'ws://127.0.0.1:' + server.port + '/';
const esm = await runLoad(parseLoadArgs([url, '--connections', '2', '--duration', '1']));
const cjs = createRequire(import.meta.url)('wasmsocket/load').runLoad === runLoad;
await server.close();
console.log('listening on ' + JSON.stringify({ ok: esm.ok, received: esm.messages.received, opened: esm.connect.opened, cjs }));
`);
  const loaded = await start(consumer, 'load.mjs');
  t.teardown(() => loaded.child.kill('SIGKILL'));
  const result = loaded.listening as { ok: boolean; received: number; opened: number; cjs: boolean };
  t.true(result.ok);
  t.is(result.opened, 2);
  t.true(result.received > 0, 'round trips were measured');
  t.true(result.cjs, 'require(\'wasmsocket/load\') gives the same module');
});

test('TypeScript: the README example, as it stands in the README, type-checks and runs; wasmsocket/load and wasmsocket/client type-check', async (t) => {
  const { consumer } = state;
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const example = /<!-- readme-example:start -->\n```ts\n([\s\S]*?)```\n<!-- readme-example:end -->/.exec(readme);
  if (example === null) return t.fail('README.md has no readme-example block');
  const project = join(consumer, 'ts');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'ts-consumer', private: true, type: 'module' }));
  writeFileSync(join(project, 'readme-example.ts'), example[1]!);
  writeFileSync(join(project, 'load-types.ts'), LOAD_TYPES);
  writeFileSync(join(project, 'client-types.ts'), CLIENT_TYPES);
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG));
  try {
    run(process.execPath, [TSC, '-p', 'tsconfig.json'], project);
  } catch (error) {
    return t.fail(`tsc: ${(error as { stdout?: string }).stdout ?? error}`);
  }
  const example_ = await start(project, join('out', 'readme-example.js'));
  t.teardown(() => example_.child.kill('SIGKILL'));
  const { port } = example_.listening as { port: number };
  t.is(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'an ordinary HTTP server\n');
  const ws = new WebSocket(`ws://127.0.0.1:${port}/chat?name=ada`);
  t.is(await firstMessage(ws), 'hello ada, from 127.0.0.1');
  ws.send('hi');
  t.is(await firstMessage(ws), 'ada: hi');
  ws.close();
  t.is(await status(`ws://127.0.0.1:${port}/chat`), 401);
  t.is(await status(`ws://127.0.0.1:${port}/elsewhere?name=ada`), 404);
});

test('the installed command: --version, and SIGTERM to its PID stops it cleanly (exit 0)', async (t) => {
  t.timeout(120_000);
  const { consumer } = state;
  // The command as npm installs it: its `#!` line (`env -S` with a malloc setting, node and its flags) runs it.
  const bin = join(consumer, 'node_modules', '.bin', 'wasmsocket');
  const ownVersion = (JSON.parse(state.repoManifest) as { version: string }).version;
  t.is(run(bin, ['--version'], consumer).trim(), ownVersion);
  const server = await launch(t, bin, ['serve', '--port', String(await freePort()), '--app', 'echo', '--workers', '1'], consumer);
  t.deepEqual(childrenOf(server.launcher.pid!), [], 'the PID started is the server itself (env execs node)');
  await stopsCleanly(t, server, server.launcher.pid!, 'SIGTERM');
  t.deepEqual(await server.exited, { code: 0, signal: null });
});

// `npx` runs `sh -c 'wasmsocket' serve …`, and dash forks the server instead of exec'ing it: npm
// forwards SIGTERM and SIGINT to that shell only. SIGTERM ends the shell, and the server stops when
// it sees its parent gone. dash holds a SIGINT until its child exits, so SIGINT reaches the server
// as a terminal sends it (to the whole process group), or directly where the script shell execs.
const npxServe = async () => ['--no-install', 'wasmsocket', 'serve', '--port', String(await freePort()), '--app', 'echo', '--workers', '1'];

for (const target of ['npx', 'shell'] as const) {
  test(`npx wasmsocket serve: SIGTERM to ${target === 'npx' ? 'the PID npx started' : 'the shell npx started'} stops the server cleanly`, async (t) => {
    t.timeout(120_000);
    const server = await launch(t, 'npx', await npxServe(), state.consumer);
    const [shell] = childrenOf(server.launcher.pid!);
    await stopsCleanly(t, server, target === 'npx' ? server.launcher.pid! : shell!, 'SIGTERM');
  });
}

// The server exits 0; dash then ends itself with the SIGINT it held, and npm with it.
test('npx wasmsocket serve: Ctrl-C (SIGINT to its process group) stops the server cleanly', async (t) => {
  t.timeout(120_000);
  const server = await launch(t, 'npx', await npxServe(), state.consumer, { detached: true });
  await stopsCleanly(t, server, -server.launcher.pid!, 'SIGINT');
  t.regex(server.output(), /shutting_down: SIGINT, closing connections with 1001/);
});

test('npx wasmsocket serve with script-shell=bash: SIGINT to the PID npx started reaches the server, npx exits 0', async (t) => {
  t.timeout(120_000);
  const server = await launch(t, 'npx', await npxServe(), state.consumer, { env: { npm_config_script_shell: '/bin/bash' } });
  t.deepEqual(childrenOf(childrenOf(server.launcher.pid!)[0]!), [], 'bash -c execs the command: npm\'s child is the server');
  await stopsCleanly(t, server, server.launcher.pid!, 'SIGINT');
  t.deepEqual(await server.exited, { code: 0, signal: null });
});
