import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLoad, type LoadResult } from '../../src/load/run.js';
import { assertOrderedPercentiles } from './assertions.js';
import { runLoadCli } from './cli-run.js';
import { loadOptions, startJsonRpc, startWsEcho } from './servers.js';

/** The example module the docs show. */
const JSON_RPC = fileURLToPath(new URL('../../../bench/scenarios/json-rpc.mjs', import.meta.url));

function moduleFile(t: { teardown(fn: () => void): void }, source: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'wasmsocket-scenario-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'scenario.mjs');
  writeFileSync(path, source);
  return path;
}

test('the JSON-RPC example module load-tests a JSON-RPC server: calls, timed answers, no errors', async (t) => {
  const server = await startJsonRpc();
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--scenario', JSON_RPC, '--connections', '4', '--duration', '1.5'));
  t.is(result.scenario, 'custom');
  t.deepEqual(result.errors, {});
  t.true(result.ok);
  // 4 connections, a call every 100 ms each: about 40/s; a loaded machine may run far fewer.
  t.true(result.messages.sent >= 4, `${result.messages.sent} sent`);
  t.is(result.messages.received, result.messages.sent, 'every call was answered (the end waits for answers)');
  t.is(result.messages.other, 0);
  assertOrderedPercentiles(t, result.latencyMs, 'reply latency');
  t.is(result.latencyMs.count, result.messages.received);
  t.is(result.connect.closedClean, 4);
});

test('--rate paces a module\'s ticks over all connections', async (t) => {
  const server = await startJsonRpc();
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--scenario', JSON_RPC, '--connections', '3', '--rate', '200', '--duration', '1', '--threads', '2'));
  t.deepEqual(result.errors, {});
  // 200/s for 1 s: generous bounds for a loaded machine.
  t.true(result.messages.sent >= 50 && result.messages.sent <= 400, `${result.messages.sent} sent`);
  t.true(result.messages.received >= result.messages.sent * 0.9);
});

test('what the server answers wrongly is counted under the kind the module names', async (t) => {
  const server = await startJsonRpc();
  t.teardown(() => server.close());
  const path = moduleFile(t, `
    export const intervalMs = 50;
    export function tick(conn, n) { conn.send(JSON.stringify({ id: n, method: 'nope', params: [] }), n); }
    export function message(conn, data) {
      const answer = JSON.parse(data);
      if (answer.error) conn.error('rpc-error ' + answer.error.code); else conn.reply(answer.id);
    }`);
  const result = await runLoad(loadOptions(server.url, '--scenario', path, '--connections', '2'));
  t.true((result.errors['rpc-error -32601'] ?? 0) > 0, JSON.stringify(result.errors));
  t.is(result.messages.received, 0);
  t.false(result.ok);
});

test('a hook that throws is counted by hook and the hint quotes its first error; the run goes on', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const path = moduleFile(t, `
    export const intervalMs = 50;
    export function tick(conn, n) { conn.send('m' + n, n); }
    export function message(conn, data) {
      if (data === 'm1') throw new TypeError('cannot read the reply');
      conn.reply(Number(data.slice(1)));
    }`);
  const result = await runLoad(loadOptions(server.url, '--scenario', path, '--connections', '2'));
  t.is(result.errors['scenario-error message'], 2, 'one throw per connection (its message m1)');
  t.true(result.messages.received > 0, 'other replies still counted');
  t.true(result.hints.some((hint) => hint === 'your scenario\'s message hook threw 2 time(s); the first: TypeError: cannot read the reply'), JSON.stringify(result.hints));
});

test('messages the module neither replies to nor counts are "other"', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const path = moduleFile(t, `
    export function open(conn) { conn.send('hello'); conn.send('hello'); }
    export function message() {}`);
  const result = await runLoad(loadOptions(server.url, '--scenario', path, '--connections', '2', '--duration', '0.5'));
  t.is(result.messages.sent, 4);
  t.is(result.messages.other, 4);
  t.deepEqual(result.errors, {});
});

for (const [what, source, message] of [
  ['no message hook', 'export function open(conn) {}', /exports no message\(conn, data, isBinary\) hook$/],
  ['nothing to send', 'export function message() {}', /sends nothing: export open\(conn\), tick\(conn, n\) or both$/],
  ['a hook that is not a function', 'export const tick = 5; export function message() {}', /"tick" must be a function, got number$/],
  ['a bad intervalMs', 'export const intervalMs = -1; export function tick() {} export function message() {}', /intervalMs must be a positive number of ms, got -1$/],
  ['a syntax error', 'export function message( {', /cannot load it: SyntaxError: /],
  ['a throw at import', 'throw new Error("no config");', /cannot load it: Error: no config$/],
] as const) {
  test(`a module with ${what} is a one-line error before any connection opens`, async (t) => {
    const path = moduleFile(t, source);
    const { status, stderr } = await runLoadCli(['ws://127.0.0.1:1/', '--scenario', path, '--duration', '0.5']);
    t.is(status, 2);
    const lines = stderr.trim().split('\n');
    t.is(lines.length, 1, stderr);
    t.true(lines[0].startsWith(`wasmsocket: --scenario ${path}: `), lines[0]);
    t.regex(lines[0].replace(/ \(see "wasmsocket load --help"\)$/, ''), message);
  });
}

test('a --scenario path that does not exist is a usage error', async (t) => {
  const { status, stderr } = await runLoadCli(['ws://127.0.0.1:1/', '--scenario', './no-such-scenario.mjs']);
  t.is(status, 2);
  t.regex(stderr, /--scenario \.\/no-such-scenario\.mjs: no such file/);
});

test('the example module also runs from the CLI with a relative path', async (t) => {
  const server = await startJsonRpc();
  t.teardown(() => server.close());
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const { status, stdout, stderr } = await runLoadCli([server.url, '--scenario', './bench/scenarios/json-rpc.mjs',
    '--connections', '2', '--duration', '1', '--threshold', 'errors == 0'], root);
  t.is(status, 0, stderr);
  t.regex(stdout, /^wasmsocket load: json-rpc\.mjs → /);
  t.regex(stdout, /\nreply latency +p50 [\d.]+/);
  const json = await runLoadCli([server.url, '--scenario', './bench/scenarios/json-rpc.mjs', '--connections', '1', '--duration', '0.5', '--json'], root);
  t.is((JSON.parse(json.stdout) as LoadResult).scenario, 'custom');
});
