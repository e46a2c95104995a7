/**
 * broadcast's start: a shard is ready once each of its subscribers has its subscription
 * acknowledged ({"type":"subscribed"}), so the first publishes reach everyone; a server that
 * never acknowledges still runs after a bounded wait, and the summary says readiness was assumed.
 */
import test from 'ava';
import { runLoad } from '../../src/load/run.js';
import { summaryTable } from '../../src/load/report.js';
import { listen } from '../../src/main-thread/server.js';
import { assertAllConnectionsClean } from './assertions.js';
import { loadOptions, startWsPubsub } from './servers.js';

test('500 subscribers on our pubsub app: all acknowledged before the first publish, none of them lost', async (t) => {
  const server = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub', workers: 0 });
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(`ws://127.0.0.1:${server.port}/`, '--scenario', 'broadcast',
    '--connections', '500', '--publishers', '1', '--in-flight', '4', '--duration', '1'));
  assertAllConnectionsClean(t, result);
  t.deepEqual(result.messages.subscriptions, { acknowledged: 500, assumed: 0 });
  t.true(result.messages.sent > 0, 'publishes');
  t.is(result.messages.received, result.messages.sent * 500, 'every publish, the first included, reached every subscriber');
  t.deepEqual([result.messages.lost, result.messages.duplicated, result.messages.reordered, result.messages.other], [0, 0, 0, 0]);
  t.regex(summaryTable(result), /subscriptions +500 acknowledged before the first publish\n/);
});

test('a server slow to subscribe (600 ms): the publishes wait for the acknowledgements, nothing is lost', async (t) => {
  // Past the coordinator's 200 ms pause before `go`: publishes sent before the acknowledgements came would be lost.
  const server = await startWsPubsub({ subscribeDelayMs: 600 });
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--scenario', 'broadcast', '--connections', '20',
    '--publishers', '2', '--rate', '200', '--threads', '2', '--duration', '1'));
  assertAllConnectionsClean(t, result);
  t.deepEqual(result.messages.subscriptions, { acknowledged: 20, assumed: 0 });
  t.true(result.messages.sent > 0);
  t.is(result.messages.received, result.messages.sent * 20);
  t.is(result.messages.lost, 0);
});

test('a server that never acknowledges a subscription: the run starts after the wait, and the summary says readiness was assumed', async (t) => {
  const server = await startWsPubsub({ silentSubscribe: true });
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--scenario', 'broadcast', '--connections', '10',
    '--publishers', '1', '--rate', '200', '--duration', '0.5'));
  assertAllConnectionsClean(t, result);
  t.deepEqual(result.messages.subscriptions, { acknowledged: 0, assumed: 10 });
  t.true(result.messages.sent > 0, 'the publishers published');
  // This server subscribes at once: the assumption holds and every delivery arrives.
  t.is(result.messages.received, result.messages.sent * 10);
  t.regex(summaryTable(result), /subscriptions +0 acknowledged before the first publish, 10 never acknowledged: assumed ready after 2 s without a reply/);
});
