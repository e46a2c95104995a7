/**
 * The project as a user gets it: `npm pack`, the tarball installed into a fresh project, the
 * package imported from ESM and checked by TypeScript, and the README's application example
 * compiled and run against the installed package.
 */
import test from 'ava';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Starts `node file` in the consumer project and waits for its line "listening on <json>". */
async function start(cwd: string, file: string): Promise<{ child: ChildProcess; listening: unknown }> {
  const child = spawn(process.execPath, [file], { cwd, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
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

function status(url: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    ws.once('error', () => resolve(-1));
  });
}

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

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', skipLibCheck: false,
    types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')],
  },
  include: ['*.ts'],
};

test('the packed tarball installs, imports from ESM and TypeScript, and runs the README example', async (t) => {
  t.timeout(300_000);
  const work = mkdtempSync(join(tmpdir(), 'wasmsocket-package-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));

  // `npm test` has just built: pack what a user would get, without building again.
  const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], ROOT)) as [{ filename: string; files: { path: string }[] }];
  const paths = packed[0].files.map((file) => file.path);
  t.true(paths.includes('build/wasmsocket.wasm'), 'the WASM module ships');
  t.true(paths.includes('dist/src/index.js') && paths.includes('dist/src/index.d.ts'));
  t.deepEqual(paths.filter((path) => !/^(dist\/src\/.+\.(js|d\.ts)|build\/wasmsocket\.wasm|package\.json|README\.md|LICENSE)$/.test(path)), [],
    'nothing but the runtime files (no tests, benches or sources)');

  const consumer = join(work, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', join(work, packed[0].filename)], consumer);
  const installed = JSON.parse(readFileSync(join(consumer, 'node_modules', 'wasmsocket', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  t.deepEqual(Object.keys(installed.dependencies).sort(), ['hdr-histogram-js', 'ioredis', 'piscina'], 'no compiler at run time');
  // The command as npm installs it: its `#!` line (`env -S` with a malloc setting, node and its flags) runs it.
  const ownVersion = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  t.is(run(join(consumer, 'node_modules', '.bin', 'wasmsocket'), ['--version'], consumer).trim(), ownVersion);

  // ESM: the exports, both codecs, and a worker loading the package's own files.
  writeFileSync(join(consumer, 'check.mjs'), CHECK_ESM);
  const esm = await start(consumer, 'check.mjs');
  t.teardown(() => esm.child.kill('SIGKILL'));
  for (const port of Object.values(esm.listening as Record<string, number>)) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    await once(ws, 'open');
    ws.send('round trip');
    t.is(await firstMessage(ws), 'round trip');
    ws.close();
  }

  // TypeScript: the README example, as it stands in the README, type-checks and runs.
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const example = /<!-- readme-example:start -->\n```ts\n([\s\S]*?)```\n<!-- readme-example:end -->/.exec(readme);
  if (example === null) return t.fail('README.md has no readme-example block');
  writeFileSync(join(consumer, 'readme-example.ts'), example[1]);
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify(TSCONFIG));
  try {
    run(process.execPath, [TSC, '-p', 'tsconfig.json'], consumer);
  } catch (error) {
    return t.fail(`tsc: ${(error as { stdout?: string }).stdout ?? error}`);
  }
  const example_ = await start(consumer, join('out', 'readme-example.js'));
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
