import test from 'ava';
import { runLoad } from '../../src/load/run.js';
import { assertAllConnectionsClean, assertOrderedPercentiles } from './assertions.js';
import { loadOptions, startWsPubsub } from './servers.js';

test('broadcast: every publish reaches every subscriber, with delivery latency', async (t) => {
  const server = await startWsPubsub();
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--scenario', 'broadcast', '--connections', '10',
    '--publishers', '2', '--rate', '200', '--topic', 'prices', '--duration', '1.5'));
  assertAllConnectionsClean(t, result);
  t.is(result.connections, 12);
  t.true(result.messages.sent > 0, 'publishes');
  t.is(result.messages.received, result.messages.sent * 10, 'each publish delivered to the 10 subscribers');
  assertOrderedPercentiles(t, result.latencyMs, 'delivery');
});

test('broadcast over two threads: subscribers in one thread receive publishes from the other', async (t) => {
  const server = await startWsPubsub();
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--scenario', 'broadcast', '--connections', '6',
    '--publishers', '1', '--rate', '100', '--threads', '2', '--duration', '1.5'));
  assertAllConnectionsClean(t, result);
  t.is(result.threads, 2);
  t.true(result.messages.sent > 0);
  t.is(result.messages.received, result.messages.sent * 6);
});
