import test from 'ava';
import { DeliveryLedger } from '../../src/load/delivery-ledger.js';
import { PublishWindow } from '../../src/load/publish-window.js';
import { runLoad } from '../../src/load/run.js';
import { emptyCounters } from '../../src/load/stats.js';
import { listen } from '../../src/main-thread/server.js';
import { assertAllConnectionsClean } from './assertions.js';
import { loadOptions, startDroppingEcho, startJsonErrorServer, startWsPubsub } from './servers.js';

const SUBSCRIBERS = 10;

function broadcastFlags(...extra: string[]): string[] {
  return ['--scenario', 'broadcast', '--connections', String(SUBSCRIBERS), '--duration', '1', '--publishers', '2', ...extra];
}

test('closed-loop broadcast: every publish reaches every subscriber, nothing lost, duplicated or reordered', async (t) => {
  const server = await startWsPubsub();
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, ...broadcastFlags('--in-flight', '8')));
  assertAllConnectionsClean(t, result);
  t.true(result.messages.sent > 16, `the loop kept publishing (${result.messages.sent})`);
  t.is(result.messages.received, result.messages.sent * SUBSCRIBERS);
  t.deepEqual([result.messages.lost, result.messages.duplicated, result.messages.reordered], [0, 0, 0]);
});

test('closed-loop broadcast over three threads: publishers learn the slowest subscriber from the other threads', async (t) => {
  const server = await startWsPubsub();
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, ...broadcastFlags('--in-flight', '4', '--threads', '3')));
  assertAllConnectionsClean(t, result);
  t.is(result.threads, 3);
  t.true(result.messages.sent > 8, `the loop went on past the first windows (${result.messages.sent})`);
  t.is(result.messages.received, result.messages.sent * SUBSCRIBERS);
  t.is(result.messages.lost, 0);
});

for (const mode of [['--in-flight', '8'], ['--rate', '400']]) {
  test(`a server that drops every 10th delivery: messages.lost is exactly what it dropped [${mode.join(' ')}]`, async (t) => {
    const server = await startWsPubsub({ dropEvery: 10 });
    t.teardown(() => server.close());
    const result = await runLoad(loadOptions(server.url, ...broadcastFlags(...mode)));
    t.true(server.faults.dropped > 0);
    t.is(result.messages.lost, server.faults.dropped);
    t.is(result.messages.received, result.messages.sent * SUBSCRIBERS - server.faults.dropped);
    t.deepEqual([result.messages.duplicated, result.messages.reordered], [0, 0]);
  });
}

test('a server that sends every 7th delivery twice: messages.duplicated is exactly that, nothing lost', async (t) => {
  const server = await startWsPubsub({ duplicateEvery: 7 });
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, ...broadcastFlags('--in-flight', '8')));
  t.true(server.faults.duplicated > 0);
  t.is(result.messages.duplicated, server.faults.duplicated);
  t.deepEqual([result.messages.lost, result.messages.reordered], [0, 0]);
});

test('a server that delivers every 5th message after the next one: messages.reordered is exactly that, nothing lost', async (t) => {
  const server = await startWsPubsub({ swapEvery: 5 });
  t.teardown(() => server.close());
  // One publisher: order is per publisher, and the server's swaps are then all within one.
  const result = await runLoad(loadOptions(server.url, ...broadcastFlags('--publishers', '1', '--rate', '400')));
  t.true(server.faults.reordered > 0);
  t.is(result.messages.reordered, server.faults.reordered);
  t.deepEqual([result.messages.lost, result.messages.duplicated], [0, 0]);
});

test('our server with --slow-policy drop: the deliveries it drops to slow subscribers are messages.lost', async (t) => {
  // A subscriber is slow as soon as anything waits in its socket queue; 256 KiB publishes at
  // 400/s to 20 subscribers (2 GB/s) are usually more than this generator reads, so deliveries are
  // dropped. Whether it keeps up depends on the machine: each run must count exactly the server's
  // drops, and the runs go on (larger publishes) until one of them had drops to count.
  let dropped = 0;
  for (let attempt = 0; attempt < 4 && dropped === 0; attempt++) {
    const server = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub', workers: 1, slowPolicy: 'drop', slowSubscriberBytes: 1 });
    try {
      const result = await runLoad(loadOptions(`ws://127.0.0.1:${server.port}/`, '--scenario', 'broadcast', '--connections', '20',
        '--size', String((256 << attempt) * 1024), '--rate', '400', '--duration', '1'));
      dropped = (await server.stats()).pubsub.dropped;
      t.is(result.messages.lost, dropped, `run ${attempt + 1}`);
      t.is(result.messages.duplicated + result.messages.reordered, 0);
    } finally {
      await server.close();
    }
  }
  t.true(dropped > 0, 'the server dropped deliveries in one of the runs');
});

test('echo: replies a server never sends are messages.lost, and the replies after them are sequence mismatches', async (t) => {
  const server = await startDroppingEcho(10);
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--connections', '3', '--rate', '300'));
  t.true(server.faults.dropped > 0);
  t.is(result.messages.lost, server.faults.dropped);
  t.true(result.messages.mismatches.sequence > 0 && result.messages.mismatches.sequence <= server.faults.dropped);
  t.is(result.messages.mismatches.notEcho, 0);
  // Past a dropped reply each round trip's service time still counts from its own send, never
  // from an earlier message's: it is at most its latency (from the intended send).
  for (const p of ['p50', 'p99', 'max'] as const) {
    t.true(result.serviceMs[p] <= result.latencyMs[p] * 1.001 + 0.001, `service ${p} ${result.serviceMs[p]} ≤ latency ${p} ${result.latencyMs[p]}`);
  }
});

test('echo: a reply that is not an echo at all (the pub/sub app\'s error) is counted as notEcho', async (t) => {
  const server = await startJsonErrorServer();
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--connections', '2', '--duration', '0.5'));
  t.true(result.messages.mismatches.notEcho > 0);
  t.is(result.messages.mismatches.notEcho, result.errors['echo-mismatch']);
  t.is(result.messages.received, 0);
});

test('the ledger tells duplicates from late deliveries, across the 2^32 wrap of sequence numbers', (t) => {
  const counters = emptyCounters();
  const ledger = new DeliveryLedger(2, 1, counters);
  ledger.opened(0);
  ledger.opened(1);
  const wrap = 2 ** 32;
  t.is(ledger.record(0, 0, 0), 0);
  t.is(ledger.record(0, 0, 3), 3, 'a gap: 1 and 2 missing so far');
  t.is(ledger.previousHighest, 0);
  t.is(ledger.record(0, 0, 1), -1, 'late');
  t.is(ledger.record(0, 0, 1), -1, 'again');
  t.is(ledger.record(0, 0, 3), -1, 'again');
  t.deepEqual([counters.reordered, counters.duplicated], [1, 2]);
  // Subscriber 1 jumps (less than 2^31 ahead each time) to just below the wrap, then runs past it.
  t.is(ledger.record(1, 0, 2 ** 31 - 10), 2 ** 31 - 10);
  t.is(ledger.record(1, 0, wrap - 20), wrap - 20);
  for (let seq = wrap - 3; seq < wrap + 3; seq++) ledger.record(1, 0, seq % wrap);
  t.is(ledger.highest(1, 0), wrap + 2, 'sequences are unwrapped');
  ledger.settle();
  t.is(counters.subscribersAtEnd, 2);
  t.is(counters.deliveredAtEnd, 3 + 2 + 6, 'subscriber 0: 0, 1, 3; subscriber 1: two jumps and six');
});

test('the publish window moves when every subscriber has reached a sequence, gaps included, and forgets one that leaves', (t) => {
  const window = new PublishWindow(1, 16);
  window.subscriberOpened();
  window.subscriberOpened();
  t.false(window.reached(0, -1, 2), 'one subscriber at 2, the other at nothing');
  t.is(window.complete(0), -1);
  t.true(window.reached(0, -1, 0));
  t.is(window.complete(0), 0);
  t.true(window.reached(0, 0, 5), 'a jump counts the sequences it skipped');
  t.is(window.complete(0), 2);
  t.true(window.subscriberClosed(() => 2), 'the slower one leaves: the other decides');
  t.is(window.complete(0), 5);
});
