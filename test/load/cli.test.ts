import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoadResult } from '../../src/load/run.js';
import { startWsEcho, unusedPort } from './servers.js';

const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

function runCli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'load', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('--json prints one JSON object with the summary and exits 0', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const { status, stdout, stderr } = await runCli([server.url, '--connections', '3', '--duration', '1', '--json']);
  t.is(status, 0, stderr);
  const lines = stdout.trim().split('\n');
  t.is(lines.length, 1, 'nothing but the JSON object on stdout');
  const result = JSON.parse(lines[0]) as LoadResult;
  t.like(result, { scenario: 'echo', connections: 3, ok: true, errorCount: 0 });
  t.true(result.messages.received > 0);
  t.true(result.latencyMs.p50 > 0);
});

test('without --json a summary table is printed', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const { status, stdout } = await runCli([server.url, '--connections', '2', '--duration', '0.5']);
  t.is(status, 0);
  t.regex(stdout, /^wasmsocket load: echo → ws:\/\/127\.0\.0\.1:\d+\/: 2 connections/);
  t.regex(stdout, /\nround trips +[\d,]+ \([\d,]+ msgs\/s/);
  t.regex(stdout, /\nlatency +p50 [\d.]+ +p90 [\d.]+ +p99 [\d.]+ +p99\.9 [\d.]+ +max [\d.]+/);
  t.regex(stdout, /\nerrors +none\n/);
});

test('a run in which nothing succeeds exits 1 and names the cause', async (t) => {
  const port = await unusedPort();
  const { status, stdout } = await runCli([`ws://127.0.0.1:${port}/`, '--connections', '2', '--duration', '0.5']);
  t.is(status, 1);
  t.regex(stdout, /errors +refused ×2/);
  t.regex(stdout, /limit +refused: nothing accepted/);
});

test('bad load flags exit 2 with a message; --help exits 0 with the usage', (t) => {
  const bad = spawnSync(process.execPath, [cli, 'load', 'ws://127.0.0.1:1/', '--connections', 'lots'], { encoding: 'utf8' });
  t.is(bad.status, 2);
  t.regex(bad.stderr, /--connections must be a whole number, got "lots"/);
  const missing = spawnSync(process.execPath, [cli, 'load'], { encoding: 'utf8' });
  t.is(missing.status, 2);
  t.regex(missing.stderr, /load needs the server URL/);
  const help = spawnSync(process.execPath, [cli, 'load', '--help'], { encoding: 'utf8' });
  t.is(help.status, 0);
  t.regex(help.stdout, /^Usage: wasmsocket load ws\[s\]:\/\/HOST:PORT\/PATH/);
});

test('past the open-file limit connections fail with EMFILE, counted and explained', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  // One process forced, with room for about 130 sockets: the rest of the 300 cannot be opened.
  const child = spawn('sh', ['-c', `ulimit -n 150 && exec "${process.execPath}" "${cli}" load ${server.url} ` +
    '--scenario connect --connections 300 --processes 1 --duration 1 --json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
  const status = await new Promise((resolve) => child.once('close', resolve));
  t.is(status, 0, 'some connections succeeded');
  const result = JSON.parse(stdout) as LoadResult;
  t.true(result.connect.opened > 0);
  t.true((result.errors.EMFILE ?? 0) > 0);
  t.is(result.connect.opened + result.errors.EMFILE, 300);
  t.true(result.limits.some((line) => line.startsWith('EMFILE')));
});

test('a source address that is not on this machine is EADDRNOTAVAIL (nothing is sent)', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): bind() refuses it locally before any packet leaves.
  const { status, stdout } = await runCli([server.url, '--connections', '2', '--duration', '0.5', '--source-ips', '192.0.2.1', '--json']);
  t.is(status, 1);
  const result = JSON.parse(stdout) as LoadResult;
  t.deepEqual(result.errors, { EADDRNOTAVAIL: 2 });
  t.true(result.limits.some((line) => line.startsWith('EADDRNOTAVAIL')));
});
