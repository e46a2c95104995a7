import test from 'ava';
import { parseLoadArgs } from '../../src/load/args.js';
import { classifyReply } from '../../src/load/probe.js';
import type { LoadResult } from '../../src/load/run.js';
import { listen } from '../../src/main-thread/server.js';
import { makeCertificate } from '../helpers/certificate.js';
import { runLoadCli } from './cli-run.js';
import { startWsEcho } from './servers.js';

test('without --scenario, against the pubsub app (what `npm start` serves), the run follows the server: broadcast', async (t) => {
  const server = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub', workers: 0 });
  t.teardown(() => server.close());
  const { status, stdout, stderr } = await runLoadCli([`ws://127.0.0.1:${server.port}/`, '--connections', '3', '--duration', '1', '--json']);
  t.is(status, 0, stderr);
  const result = JSON.parse(stdout) as LoadResult;
  t.is(result.scenario, 'broadcast');
  t.true(result.messages.received > 0);
  t.deepEqual(result.errors, {});
  t.regex(stderr, /^wasmsocket load: the server answers as a pub\/sub server \(wasmsocket serve's pubsub app\): running --scenario broadcast \(give --scenario echo to run echo anyway\)\n/);
});

test('without --scenario an echo server gets echo, and a flag that only fits echo keeps echo against pubsub', async (t) => {
  const echo = await startWsEcho();
  t.teardown(() => echo.close());
  const plain = await runLoadCli([echo.url, '--connections', '1', '--duration', '0.5', '--json']);
  t.is(plain.status, 0, plain.stderr);
  t.is((JSON.parse(plain.stdout) as LoadResult).scenario, 'echo');
  t.is(plain.stderr, '');
  const server = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub', workers: 0 });
  t.teardown(() => server.close());
  const small = await runLoadCli([`ws://127.0.0.1:${server.port}/`, '--connections', '1', '--duration', '0.5', '--size', '20', '--json']);
  const result = JSON.parse(small.stdout) as LoadResult;
  t.is(result.scenario, 'echo', '--size 20 cannot carry a publish');
  t.regex(result.hints[0], /--scenario broadcast/);
});

test('the probe tells an echo, wasmsocket\'s pub/sub error answer, and anything else apart', (t) => {
  t.is(classifyReply('wasmsocket load probe'), 'echo');
  t.is(classifyReply('{"type":"error","code":"bad_json","message":"message is not valid JSON"}'), 'pubsub');
  t.is(classifyReply('{"type":"error","code":"unknown_type"}'), 'unknown');
  t.is(classifyReply('{"jsonrpc":"2.0","error":{"code":-32700}}'), 'unknown');
  t.is(classifyReply('hello'), 'unknown');
});

test('echo against the pubsub app names what the server said and suggests broadcast', async (t) => {
  const server = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub', workers: 0 });
  t.teardown(() => server.close());
  const { status, stdout } = await runLoadCli([`ws://127.0.0.1:${server.port}/`, '--scenario', 'echo', '--connections', '2', '--duration', '1']);
  t.is(status, 1, 'no round trip succeeded');
  t.regex(stdout, /\nhint +none of [\d,]+ replies was the echo of what was sent: the server answered \{"type":"error","code":"bad_json"/);
  t.regex(stdout, /try --scenario broadcast/);
});

test('the same hint is in the JSON summary and on stderr with --json', async (t) => {
  const server = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub', workers: 0 });
  t.teardown(() => server.close());
  const { stdout, stderr } = await runLoadCli([`ws://127.0.0.1:${server.port}/`, '--scenario', 'echo', '--connections', '1', '--duration', '0.5', '--json']);
  const result = JSON.parse(stdout) as LoadResult;
  t.is(result.hints.length, 1);
  t.regex(result.hints[0], /"code":"bad_json".*--scenario broadcast/);
  t.regex(stderr, /wasmsocket load: hint: none of .*--scenario broadcast/);
});

test('the suggested broadcast scenario then works against the pubsub app', async (t) => {
  const server = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub', workers: 0 });
  t.teardown(() => server.close());
  const { status, stdout, stderr } = await runLoadCli([`ws://127.0.0.1:${server.port}/`, '--scenario', 'broadcast',
    '--connections', '3', '--duration', '1', '--json']);
  t.is(status, 0, stderr);
  const result = JSON.parse(stdout) as LoadResult;
  t.true(result.messages.received > 0);
  t.deepEqual(result.hints, []);
});

test('a self-signed wss:// server gets the --insecure hint, and --insecure then works', async (t) => {
  const certificate = makeCertificate();
  t.teardown(() => certificate.remove());
  const server = await listen({ host: '127.0.0.1', port: 0, app: 'echo', workers: 0, tls: certificate });
  t.teardown(() => server.close());
  const url = `wss://127.0.0.1:${server.port}/`;
  const refused = await runLoadCli([url, '--connections', '2', '--duration', '0.5']);
  t.is(refused.status, 1);
  t.regex(refused.stdout, /errors +DEPTH_ZERO_SELF_SIGNED_CERT ×2/);
  t.regex(refused.stdout, /\nhint +the server's certificate does not verify \(DEPTH_ZERO_SELF_SIGNED_CERT\): for a self-signed or test certificate add --insecure\n/);
  const insecure = await runLoadCli([url, '--connections', '2', '--duration', '0.5', '--insecure', '--json']);
  t.is(insecure.status, 0, insecure.stderr);
  t.deepEqual((JSON.parse(insecure.stdout) as LoadResult).hints, []);
});

test('wss:// to a plain ws:// port says the server speaks ws://', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const url = server.url.replace('ws:', 'wss:');
  const { status, stdout } = await runLoadCli([url, '--connections', '2', '--duration', '0.5']);
  t.is(status, 1);
  t.regex(stdout, /\nhint +the server speaks ws:\/\/, not wss:\/\/ \(its answer is not TLS\): try ws:\/\/127\.0\.0\.1:\d+\/\n/);
});

test('an unknown flag names the nearest one', (t) => {
  for (const [typed, nearest] of [['--conections', '--connections'], ['--duraton', '--duration'], ['--treshold', '--threshold'],
    ['--in-fligth', '--in-flight'], ['--jsno', '--json']] as const) {
    const error = t.throws(() => parseLoadArgs(['ws://127.0.0.1:1/', typed, '1']));
    t.is(error!.message, `unknown option ${typed}: did you mean ${nearest}?`);
  }
  const far = t.throws(() => parseLoadArgs(['ws://127.0.0.1:1/', '--zzzzzzzz']));
  t.is(far!.message, 'unknown option --zzzzzzzz');
});

test('the CLI reports an unknown flag in one line with exit 2', async (t) => {
  const { status, stderr } = await runLoadCli(['ws://127.0.0.1:1/', '--conections', '5']);
  t.is(status, 2);
  t.regex(stderr, /^wasmsocket: unknown option --conections: did you mean --connections\?/);
  t.is(stderr.trim().split('\n').length, 1);
});
