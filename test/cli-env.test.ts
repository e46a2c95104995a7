/**
 * `wasmsocket serve` configured by environment: every flag of the table of options is also a
 * WASMSOCKET_<FLAG> variable, a flag wins over its variable, and a bad value is one line naming
 * the variable with the exit code of a bad flag (2). Real processes, real sockets.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { environmentVariable, parseServeArgs, UsageError } from '../src/cli-args.js';
import { specs } from '../src/server/options.js';

const cli = fileURLToPath(new URL('../src/cli.js', import.meta.url));

/** The environment of this process without any WASMSOCKET_ variable, plus `variables`. */
function environment(variables: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('WASMSOCKET_')) env[name] = value;
  return { ...env, ...variables };
}

/** Spawns `wasmsocket serve ARGS` with `variables` (killed at teardown); resolves to its URL and its listening line. */
async function startServe(t: ExecutionContext, args: string[], variables: Record<string, string>): Promise<{ url: string; line: string }> {
  const child = spawn(process.execPath, [cli, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: environment(variables) });
  t.teardown(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => { output += text; });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (text: string) => {
      output += text;
      const match = /listening on (ws:\/\/\S+).*/.exec(output);
      if (match) resolve({ url: match[1], line: match[0] });
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
  });
}

/** Sends `size` bytes and resolves to what came back: the echo, or the close code. */
async function echoOrClose(url: string, size: number): Promise<string | number> {
  const ws = new WebSocket(url);
  try {
    await once(ws, 'open');
    ws.send('x'.repeat(size));
    return await new Promise<string | number>((resolve) => {
      ws.once('message', (data) => resolve(String(data)));
      ws.once('close', (code) => resolve(code));
    });
  } finally {
    ws.terminate();
  }
}

test('every flag of the table is read from its WASMSOCKET_ variable, as the flag would read it', (t) => {
  const samples = ['1', 'news', 'http://a.example', '/ws', 'redis://127.0.0.1:6379', 'echo', 'example.org'];
  let checked = 0;
  for (const [name, spec] of specs()) {
    if (spec.cli === undefined) continue;
    const variable = environmentVariable(spec.cli.flag);
    t.regex(variable, /^WASMSOCKET_[A-Z0-9_]+$/);
    if (spec.cli.arg === undefined && spec.kind !== 'enum') {
      t.is(parseServeArgs([], { [variable]: 'true' }).options[name], parseServeArgs([`--${spec.cli.flag}`]).options[name], variable);
      t.is(parseServeArgs([], { [variable]: '0' }).options[name], parseServeArgs([]).options[name], variable);
      checked++;
      continue;
    }
    const candidates = spec.kind === 'enum' ? [spec.values![spec.values!.length - 1]] : samples;
    const value = candidates.find((sample) => { try { parseServeArgs([`--${spec.cli!.flag}`, sample]); return true; } catch { return false; } });
    if (value === undefined) { t.fail(`no sample value suits --${spec.cli.flag}`); continue; }
    t.deepEqual(parseServeArgs([], { [variable]: value }).options[name], parseServeArgs([`--${spec.cli.flag}`, value]).options[name], variable);
    checked++;
  }
  t.true(checked > 25, `${checked} flags checked`);
  t.is(environmentVariable('max-payload'), 'WASMSOCKET_MAX_PAYLOAD');
});

test('a flag wins over its variable; an empty variable counts as unset', (t) => {
  t.is(parseServeArgs(['--port', '9000'], { WASMSOCKET_PORT: '9001' }).options.port, 9000);
  t.is(parseServeArgs(['--port', '9000'], { WASMSOCKET_PORT: 'not a port' }).options.port, 9000);
  t.is(parseServeArgs([], { WASMSOCKET_PORT: '' }).options.port, 8080);
  t.deepEqual(parseServeArgs([], { WASMSOCKET_CERT: 'c.pem', WASMSOCKET_KEY: 'k.pem' }).certificateFiles, { cert: 'c.pem', key: 'k.pem' });
  t.throws(() => parseServeArgs([], { WASMSOCKET_CERT: 'c.pem' }), { instanceOf: UsageError, message: /--cert and --key go together/ });
});

test('a bad value in a variable is a usage error naming the variable', (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ WASMSOCKET_MAX_PAYLOAD: '16MB' }, /^WASMSOCKET_MAX_PAYLOAD must be a whole number, got "16MB"$/],
    [{ WASMSOCKET_PORT: '70000' }, /^WASMSOCKET_PORT must be between 0 and 65535, got 70000$/],
    [{ WASMSOCKET_SLOW_POLICY: 'Drop' }, /^WASMSOCKET_SLOW_POLICY must be "drop" or "close", got "Drop"$/],
    [{ WASMSOCKET_DEFLATE: 'yes' }, /^WASMSOCKET_DEFLATE must be true or false \(or 1 or 0\), got "yes"$/],
    [{ WASMSOCKET_ORIGINS: 'not a url' }, /^WASMSOCKET_ORIGINS: "not a url" is not a URL$/],
    [{ WASMSOCKET_PING_INTERVAL: '-1' }, /^WASMSOCKET_PING_INTERVAL must be a whole number/],
  ];
  for (const [env, message] of cases) t.throws(() => parseServeArgs([], env), { instanceOf: UsageError, message }, JSON.stringify(env));
});

test('serve configured by environment: the variables set the server, a flag overrides one', async (t) => {
  const variables = { WASMSOCKET_PORT: '0', WASMSOCKET_APP: 'echo', WASMSOCKET_WORKERS: '0', WASMSOCKET_MAX_PAYLOAD: '16', WASMSOCKET_DEFLATE: 'true' };
  const fromEnv = await startServe(t, [], variables);
  t.regex(fromEnv.line, /app echo, codec wasm, inline, permessage-deflate/);
  t.is(await echoOrClose(fromEnv.url, 16), 'x'.repeat(16));
  t.is(await echoOrClose(fromEnv.url, 17), 1009, 'WASMSOCKET_MAX_PAYLOAD=16 closes a 17-byte message with 1009');
  const overridden = await startServe(t, ['--max-payload', '64', '--codec', 'js'], { ...variables, WASMSOCKET_CODEC: 'wasm' });
  t.regex(overridden.line, /codec js/);
  t.is(await echoOrClose(overridden.url, 32), 'x'.repeat(32), '--max-payload 64 wins over WASMSOCKET_MAX_PAYLOAD=16');
});

test('serve exits 2 with one line naming a bad variable', (t) => {
  for (const [name, value] of [['WASMSOCKET_MAX_PAYLOAD', 'lots'], ['WASMSOCKET_SLOW_POLICY', 'Drop'], ['WASMSOCKET_WORKERS', '-1']]) {
    const result = spawnSync(process.execPath, [cli, 'serve'], { encoding: 'utf8', env: environment({ [name]: value }) });
    t.is(result.status, 2, `${name}=${value}`);
    t.is(result.stderr.trimEnd().split('\n').length, 1, `one line: ${result.stderr}`);
    t.regex(result.stderr, new RegExp(`^wasmsocket: ${name} must `));
  }
});
