import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { parseServeArgs, SERVE_USAGE, UsageError } from '../src/cli-args.js';
import { DEFAULTS } from '../src/main-thread/server.js';

const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));

/** Spawns `wasmsocket serve ARGS` (killed at teardown); resolves once it prints its URL. */
async function startServe(t: ExecutionContext, args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [cli, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.setEncoding('utf8');
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (text: string) => {
      output += text;
      const match = /listening on (ws:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
  });
  return { child, url };
}

test('serve flags are parsed into server options', (t) => {
  const { options } = parseServeArgs(['--port', '0', '--codec', 'js', '--max-payload', '1024',
    '--subprotocols', 'a, b', '--origins', 'http://localhost:3000', '--workers', '0', '--app', 'echo']);
  t.like(options, { port: 0, codec: 'js', maxPayload: 1024, workers: 0, app: 'echo' });
  t.deepEqual(options.subprotocols, ['a', 'b']);
  t.deepEqual(options.origins, ['http://localhost:3000']);
});

test('--deflate turns permessage-deflate on; it is off by default, and the help lists it', (t) => {
  t.is(parseServeArgs(['--deflate']).options.deflate, true);
  t.is(parseServeArgs([]).options.deflate, false);
  t.regex(SERVE_USAGE, /--deflate +offer permessage-deflate compression \(RFC 7692\)/);
  t.throws(() => parseServeArgs(['--deflate=yes']), { instanceOf: UsageError });
  const help = spawnSync(process.execPath, [cli, 'serve', '--help'], { encoding: 'utf8' });
  t.is(help.status, 0);
  t.regex(help.stdout, /--deflate/);
});

test('serve --deflate negotiates permessage-deflate with a client that offers it', async (t) => {
  const { url } = await startServe(t, ['--port', '0', '--app', 'echo', '--deflate', '--workers', '1']);
  const ws = new WebSocket(url, { perMessageDeflate: true });
  t.teardown(() => ws.terminate());
  const upgraded = once(ws, 'upgrade') as Promise<[{ headers: Record<string, string> }]>;
  await once(ws, 'open');
  t.is((await upgraded)[0].headers['sec-websocket-extensions'], 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  const message = 'compress me '.repeat(1000);
  ws.send(message);
  const [echo] = await once(ws, 'message');
  t.is(String(echo), message);
});

test('bad serve flags are usage errors with a clear message', (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--port', 'eighty'], /--port must be a whole number/],
    [['--port', '70000'], /--port must be between 0 and 65535/],
    [['--codec', 'rust'], /--codec must be "wasm" or "js"/],
    [['--max-payload', '0'], /--max-payload must be between/],
    [['--workers', 'two'], /--workers must be a whole number/],
    [['--workers', '1000'], /--workers must be between 0 and 256/],
    [['--origins', 'not a url'], /is not a URL/],
    [['--redis', 'localhost:6379'], /--redis must look like redis:\/\/host:port/],
    [['--slow-policy', 'ignore'], /--slow-policy must be "drop" or "close"/],
    [['--slow-subscriber-bytes', '1.5'], /--slow-subscriber-bytes must be a whole number/],
    [['--idle-collect-after', '-1'], /--idle-collect-after must be/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
  ];
  for (const [args, message] of cases) {
    const error = t.throws(() => parseServeArgs(args), { instanceOf: UsageError }, args.join(' '));
    t.regex(error!.message, message);
  }
});

test('subscription limits and public topics are serve flags, checked like the others', (t) => {
  const { options } = parseServeArgs(['--max-subscriptions', '10', '--max-total-subscriptions', '500', '--topics-public', 'news, user.*.inbox']);
  t.like(options, { maxSubscriptions: 10, maxTotalSubscriptions: 500 });
  t.deepEqual(options.topicsPublic, ['news', 'user.*.inbox']);
  const defaults = parseServeArgs([]).options;
  t.like(defaults, { maxSubscriptions: DEFAULTS.maxSubscriptions, maxTotalSubscriptions: DEFAULTS.maxTotalSubscriptions });
  t.deepEqual(defaults.topicsPublic, ['*']);
  t.is(defaults.idleCollectAfter, 1000);
  t.is(parseServeArgs(['--idle-collect-after', '0']).options.idleCollectAfter, 0);
  t.deepEqual(parseServeArgs(['--topics-public', '>']).options.topicsPublic, ['>']);
  for (const flag of ['--max-subscriptions', '--max-total-subscriptions', '--topics-public']) t.regex(SERVE_USAGE, new RegExp(flag));
  const cases: Array<[string[], RegExp]> = [
    [['--max-subscriptions', '0'], /--max-subscriptions must be between 1 and/],
    [['--max-total-subscriptions', 'many'], /--max-total-subscriptions must be a whole number/],
    [['--topics-public', 'news.>'], /--topics-public: "news.>" is not a topic prefix/],
    [['--topics-public', 'a..b'], /--topics-public: "a..b" is not a topic prefix \(empty segment\)/],
  ];
  for (const [args, message] of cases) {
    const error = t.throws(() => parseServeArgs(args), { instanceOf: UsageError }, args.join(' '));
    t.regex(error!.message, message);
  }
});

test('the CLI exits 2 with a message on bad flags and on unknown commands', (t) => {
  const badFlag = spawnSync(process.execPath, [cli, 'serve', '--codec', 'rust'], { encoding: 'utf8' });
  t.is(badFlag.status, 2);
  t.regex(badFlag.stderr, /--codec must be "wasm" or "js"/);
  const badCommand = spawnSync(process.execPath, [cli, 'frobnicate'], { encoding: 'utf8' });
  t.is(badCommand.status, 2);
  t.regex(badCommand.stderr, /unknown command "frobnicate"/);
});

test('serve prints its address, serves, and exits 0 on SIGTERM after closing clients with 1001', async (t) => {
  const { child, url } = await startServe(t, ['--port', '0', '--app', 'echo']);
  const ws = new WebSocket(url);
  await once(ws, 'open');
  ws.send('ping?');
  const [echo] = await once(ws, 'message');
  t.is(String(echo), 'ping?');
  const closeCode = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  child.kill('SIGTERM');
  t.is(await closeCode, 1001);
  const [exitCode] = await once(child, 'exit');
  t.is(exitCode, 0);
});

test('serve reports a port in use as a clear error', async (t) => {
  const first = spawn(process.execPath, [cli, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => first.kill('SIGKILL'));
  first.stdout.setEncoding('utf8');
  const [line] = await once(first.stdout, 'data') as [string];
  const port = /:(\d+)\//.exec(line)![1];
  const second = spawnSync(process.execPath, [cli, 'serve', '--port', port], { encoding: 'utf8' });
  t.is(second.status, 1);
  t.regex(second.stderr, /cannot listen: .*EADDRINUSE/);
});

test('--version prints the package version; serve --help and load --help print their own flags', (t) => {
  const version = spawnSync(process.execPath, [cli, '--version'], { encoding: 'utf8' });
  t.is(version.status, 0);
  t.regex(version.stdout, /^\d+\.\d+\.\d+\n$/);
  const serveHelp = spawnSync(process.execPath, [cli, 'serve', '--help'], { encoding: 'utf8' });
  t.is(serveHelp.status, 0);
  t.regex(serveHelp.stdout, /^Usage: wasmsocket serve \[options\]/);
  t.regex(serveHelp.stdout, /--path \/PATH/);
  t.notRegex(serveHelp.stdout, /--scenario/);
  const loadHelp = spawnSync(process.execPath, [cli, 'load', '--help'], { encoding: 'utf8' });
  t.is(loadHelp.status, 0);
  t.regex(loadHelp.stdout, /^Usage: wasmsocket load/);
  t.regex(loadHelp.stdout, /--scenario/);
  t.notRegex(loadHelp.stdout, /--slow-policy/);
});

test('negative numbers and other bad values get one line naming the flag, exit 2', (t) => {
  for (const args of [['serve', '--port', '-1'], ['serve', '--workers', '-2'], ['load', 'ws://127.0.0.1:1/', '--connections', '-5'], ['serve', '--path', 'ws']]) {
    const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
    t.is(result.status, 2, args.join(' '));
    t.is(result.stderr.trimEnd().split('\n').length, 1, `one line: ${result.stderr}`);
    t.regex(result.stderr, new RegExp(`^wasmsocket: --${args[args.length - 2].replace(/^--/, '')} must `));
    t.regex(result.stderr, new RegExp(`see "wasmsocket ${args[0]} --help"`));
  }
});
