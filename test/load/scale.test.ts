import test from 'ava';
import { runLoad } from '../../src/load/run.js';
import { planRun } from '../../src/load/plan.js';
import { assertAllConnectionsClean, assertOrderedPercentiles } from './assertions.js';
import { loadOptions, startWsEcho } from './servers.js';

test('the plan spreads connections over processes past one process\'s open-file limit', (t) => {
  const options = loadOptions('ws://127.0.0.1:1/', '--connections', '19000', '--threads', '1');
  const plan = planRun(options, 20_000);
  t.is(plan.processes.length, 2, '19 000 connections do not fit one process at ulimit -n 20 000');
  t.is(plan.processes.flat().reduce((sum, shard) => sum + shard.connections, 0), 19_000);
  t.true(plan.processes.every((group) => group.reduce((sum, shard) => sum + shard.connections, 0) <= plan.connectionsPerProcess));
  t.is(planRun(loadOptions('ws://127.0.0.1:1/', '--connections', '100', '--threads', '4'), 20_000).processes[0].length, 4);
});

test('--threads 2 runs two worker threads and merges their counts and histograms', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--connections', '6', '--threads', '2'));
  t.is(result.threads, 2);
  t.is(result.processes, 1);
  assertAllConnectionsClean(t, result);
  t.true(result.messages.received > 0);
  t.is(result.latencyMs.count, result.messages.received, 'the merged histogram holds every round trip');
  assertOrderedPercentiles(t, result.latencyMs, 'round trip');
});

test('past the open-file limit the connections go to child processes, and their counts merge', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  // A limit of 100 descriptors leaves 36 connections per process: 100 connections need 3 processes.
  const result = await runLoad(loadOptions(server.url, '--connections', '100', '--ramp', '0'), { openFileLimit: 100 });
  t.is(result.processes, 3);
  assertAllConnectionsClean(t, result);
  t.true(result.messages.received > 0);
  t.is(result.latencyMs.count, result.messages.received);
});

test('--source-ips binds connections round-robin over loopback addresses', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--connections', '6', '--source-ips', '127.0.0.2-127.0.0.4'));
  assertAllConnectionsClean(t, result);
  t.true(result.messages.received > 0);
});
