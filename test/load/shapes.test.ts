import test from 'ava';
import { parseLoadArgs } from '../../src/load/args.js';
import { runLoad } from '../../src/load/run.js';
import { parseStages, shardStages, stageTarget } from '../../src/load/stages.js';
import { assertOrderedPercentiles } from './assertions.js';
import { runLoadCli } from './cli-run.js';
import { startEchoAcceptingFirst, startWsEcho } from './servers.js';

test('stages parse k6-style and the target ramps linearly, holds and ramps down', (t) => {
  const stages = parseStages('30s:1000,1m:1000,10s:0');
  t.deepEqual(stages, [{ durationMs: 30_000, target: 1000 }, { durationMs: 60_000, target: 1000 }, { durationMs: 10_000, target: 0 }]);
  t.deepEqual(parseStages('500ms:3,1.5:2,1m30s:0').map((stage) => stage.durationMs), [500, 1500, 90_000]);
  t.is(stageTarget(stages, 0), 0);
  t.is(stageTarget(stages, 15_000), 500);
  t.is(stageTarget(stages, 30_000), 1000);
  t.is(stageTarget(stages, 60_000), 1000);
  t.is(stageTarget(stages, 95_000), 500);
  t.is(stageTarget(stages, 200_000), 0);
  // Split over 3 shards, each stage's targets add up to the whole.
  const shards = [0, 1, 2].map((shard) => shardStages(parseStages('1s:10,1s:4'), shard, 3));
  t.deepEqual(shards.map((s) => s.map((stage) => stage.target)), [[4, 2], [3, 1], [3, 1]]);
});

test('bad --stages are one-line usage errors; --stages excludes --connections, --duration and --ramp', (t) => {
  for (const [args, message] of [
    [['--stages', '30:100x'], /--stages: "30:100x" is not DURATION:CONNECTIONS/],
    [['--stages', '0s:10'], /--stages: "0s:10" is not DURATION:CONNECTIONS/],
    [['--stages', '10q:10'], /--stages: "10q:10" is not/],
    [['--stages', '1s:0'], /--stages: no stage asks for a connection/],
    [['--stages', '1s:10', '--connections', '5'], /--stages and --connections exclude each other/],
    [['--stages', '1s:10', '--duration', '5'], /--stages and --duration exclude each other/],
    [['--stages', '1s:10', '--scenario', 'broadcast'], /--stages applies to echo, connect and module scenarios/],
  ] as const) {
    const error = t.throws(() => parseLoadArgs(['ws://127.0.0.1:1/', ...args]));
    t.regex(error!.message, message);
  }
  const options = parseLoadArgs(['ws://127.0.0.1:1/', '--stages', '1s:10,2s:30,1s:0']);
  t.is(options.connections, 30, 'the plan makes room for the peak');
  t.is(options.durationMs, 4000, 'the run lasts the stages');
});

test('the open connections follow the stages: up to the target, held, then closed cleanly on the ramp down', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const result = await runLoad(parseLoadArgs([server.url, '--stages', '0.8s:8,1.6s:8,1s:0', '--threads', '2']));
  t.deepEqual(result.errors, {});
  const opens = result.series.map((point) => point.open);
  t.is(Math.max(...opens), 8, `the series reaches the target: ${opens.join(' ')}`);
  t.true(opens.includes(8), 'and holds it');
  t.is(result.connect.opened, 8, 'no more connections than the peak were opened');
  t.true(result.connect.openAtEnd < 8, `the ramp down had closed some by the end (${result.connect.openAtEnd} open)`);
  t.is(result.connect.closedClean, 8, 'every connection closed with a clean closing handshake');
  t.true(result.messages.received > 0);
});

test('stages that rise again reopen connections', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const result = await runLoad(parseLoadArgs([server.url, '--stages', '0.5s:4,0.5s:0,0.5s:0,0.5s:4,1s:4', '--scenario', 'connect']));
  t.deepEqual(result.errors, {});
  // 4 attempts, all closed on the way down (open, or abandoned while connecting on a slow machine), 4 again.
  t.is(result.connect.attempted, 8);
  t.is(result.connect.opened + result.connect.abandoned, 8);
  t.is(result.connect.openAtEnd, 4);
});

test('reconnect-storm drops every connection at once, reopens them all, and times how long until all are back', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const { status, stdout, stderr } = await runLoadCli([server.url, '--scenario', 'reconnect-storm', '--connections', '20',
    '--storm-interval', '0.5', '--duration', '2', '--json']);
  t.is(status, 0, stderr);
  const result = JSON.parse(stdout) as import('../../src/load/run.js').LoadResult;
  t.deepEqual(result.errors, {}, 'the drops are the scenario\'s, not errors');
  t.true(result.storms!.length >= 1);
  const [first] = result.storms!;
  t.like(first, { dropped: 20, reconnected: 20, failed: 0 });
  t.true(first.allBackMs! > 0);
  assertOrderedPercentiles(t, result.latencyMs, 'reconnect time');
  t.true(result.latencyMs.max <= first.allBackMs! + 1 || result.storms!.length > 1);
  t.is(result.latencyMs.count, result.storms!.reduce((sum, storm) => sum + storm.reconnected, 0));
  t.is(result.connect.openAtEnd, 20, 'all back and open at the end');
  t.is(result.connect.closedClean, 20);
});

test('reconnect-storm counts the reopens the server refuses as failures, by error kind', async (t) => {
  const server = await startEchoAcceptingFirst(10);
  t.teardown(() => server.close());
  const { status, stdout } = await runLoadCli([server.url, '--scenario', 'reconnect-storm', '--connections', '10',
    '--storm-interval', '0.3', '--duration', '1.2']);
  t.is(status, 0, 'the first connections opened');
  t.regex(stdout, /\nstorm 1 +at [\d.]+ s: 10 dropped, 0 back, 10 failed, all settled in [\d.]+ ms\n/);
  t.regex(stdout, /\nerrors +status 503 ×10\n/);
  t.regex(stdout, /\nreconnect time +no samples\n/);
});

test('reopens still connecting when the run stops are neither back nor failed: the storm is unsettled', async (t) => {
  const server = await startEchoAcceptingFirst(5, 'hang');
  t.teardown(() => server.close());
  const { status, stdout } = await runLoadCli([server.url, '--scenario', 'reconnect-storm', '--connections', '5',
    '--storm-interval', '0.3', '--duration', '1', '--json']);
  t.is(status, 0);
  const result = JSON.parse(stdout) as import('../../src/load/run.js').LoadResult;
  t.deepEqual(result.storms, [{ atS: result.storms![0].atS, dropped: 5, reconnected: 0, failed: 0, allBackMs: null }]);
  t.is(result.connect.abandoned, 5);
  t.deepEqual(result.errors, {});
});

test('a storm interval longer than the run: no storm, said so', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const result = await runLoad(parseLoadArgs([server.url, '--scenario', 'reconnect-storm', '--connections', '2', '--duration', '0.5']));
  t.deepEqual(result.storms, []);
  t.true(result.ok);
  t.throws(() => parseLoadArgs([server.url, '--storm-interval', '1']), { message: /--storm-interval applies to --scenario reconnect-storm/ });
});
