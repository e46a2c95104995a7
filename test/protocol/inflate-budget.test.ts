/**
 * The thread's inflate budget (src/protocol/inflate-budget.ts): bookkeeping alone, then shared
 * by sans-I/O server endpoints whose compressed messages are inflated off the event loop.
 */
import test from 'ava';
import { createCodec } from '../../src/codec/select.js';
import { InflateBudget } from '../../src/protocol/inflate-budget.js';
import { WebSocketProtocol, ReadyState } from '../../src/protocol/protocol.js';
import { compressedBinary } from '../helpers/deflate.js';
import { waitFor } from '../helpers/wait.js';

test('claims are granted in order while they fit; the rest wait, and later ones do not overtake them', (t) => {
  const granted: string[] = [];
  const budget = new InflateBudget(100);
  const a = budget.reserve(60, () => granted.push('a'));
  budget.reserve(50, () => granted.push('b'));
  // 10 would fit, but b waits before it.
  const c = budget.reserve(10, () => granted.push('c'));
  t.deepEqual(granted, ['a']);
  t.like(budget.stats, { inUseBytes: 60, waiting: 2, waited: 2, granted: 1 });
  a.release();
  t.deepEqual(granted, ['a', 'b', 'c']);
  t.like(budget.stats, { inUseBytes: 60, waiting: 0, peakBytes: 60, granted: 3 });
  c.release();
  c.release();
  t.is(budget.stats.inUseBytes, 50, 'a second release gives nothing back twice');
});

test('a claim larger than the whole budget is granted when nothing else is held, never refused', (t) => {
  const granted: string[] = [];
  const budget = new InflateBudget(100);
  const small = budget.reserve(10, () => granted.push('small'));
  const huge = budget.reserve(500, () => granted.push('huge'));
  t.deepEqual(granted, ['small']);
  small.release();
  t.deepEqual(granted, ['small', 'huge']);
  t.is(budget.stats.peakBytes, 500);
  huge.release();
  t.is(budget.stats.inUseBytes, 0);
});

test('a waiting claim that is released leaves the queue and lets the next one through', (t) => {
  const granted: string[] = [];
  const budget = new InflateBudget(100);
  const a = budget.reserve(80, () => granted.push('a'));
  const b = budget.reserve(80, () => granted.push('b'));
  budget.reserve(20, () => granted.push('c'));
  b.release(); // its connection closed while it waited
  t.deepEqual(granted, ['a', 'c']);
  a.release();
  t.like(budget.stats, { inUseBytes: 20, waiting: 0 });
});

test('the end of a burst is reported once the budget empties after a budget\'s worth went through', (t) => {
  let bursts = 0;
  const budget = new InflateBudget(100, () => bursts++);
  budget.reserve(30, () => {}).release();
  t.is(bursts, 0, 'less than the budget went through: not a burst');
  const a = budget.reserve(60, () => {});
  const b = budget.reserve(60, () => {});
  a.release();
  t.is(bursts, 0, 'not empty yet');
  b.release();
  t.is(bursts, 1);
  t.throws(() => new InflateBudget(0), { instanceOf: RangeError });
});

/** A server endpoint with permessage-deflate (no context takeover) and the given budget. */
function server(budget: InflateBudget) {
  const out = { messages: [] as Buffer[], closed: 0 };
  const machine = new WebSocketProtocol(createCodec('js'), {
    message: (data) => out.messages.push(data),
    write: () => {},
    closeTransport: () => { out.closed++; },
  }, {
    role: 'server', maxPayload: 4 << 20, inflateBudget: budget,
    deflate: {
      negotiated: { send: { windowBits: 15, noContextTakeover: true }, receive: { windowBits: 15, noContextTakeover: true } },
      compressor: { threshold: 16, maxCompressBytes: 1 << 20, level: 6, memLevel: 8 },
    },
  });
  return { machine, out };
}

test('connections sharing a budget inflate large messages within it, every message delivered whole', async (t) => {
  const budget = new InflateBudget(3 << 20);
  const size = 2 << 20; // over the sync limit: inflated off the event loop
  const servers = Array.from({ length: 5 }, () => server(budget));
  servers.forEach(({ machine }, i) => machine.receive(compressedBinary(Buffer.alloc(size, i))));
  await waitFor(() => servers.every(({ out }) => out.messages.length === 1), 30_000);
  servers.forEach(({ out }, i) => t.true(out.messages[0]?.equals(Buffer.alloc(size, i)), `message ${i} delivered whole`));
  // One 2 MiB message at a time fits in 3 MiB: the others waited.
  t.like(budget.stats, { inUseBytes: 0, peakBytes: size, granted: 5, waiting: 0 });
  t.true(budget.stats.waited >= 1);
});

test('a connection that ends while its message waits for the budget gives its claim back', async (t) => {
  const budget = new InflateBudget(1 << 20);
  const size = 1 << 20;
  // Something else holds the whole budget: every message measured waits.
  const holder = budget.reserve(1 << 20, () => {});
  const first = server(budget), second = server(budget), third = server(budget);
  for (const { machine } of [first, second, third]) machine.receive(compressedBinary(Buffer.alloc(size, 7)));
  // The measuring pass runs on the thread pool; once it is done each message waits.
  await waitFor(() => budget.stats.waiting === 3, 30_000);
  t.is(budget.stats.waiting, 3);
  second.machine.receiveEnd();
  t.is(second.machine.readyState, ReadyState.CLOSED);
  t.is(budget.stats.waiting, 2, 'its claim left the queue');
  holder.release();
  await waitFor(() => first.out.messages.length === 1 && third.out.messages.length === 1, 30_000);
  t.true(first.out.messages[0]?.equals(Buffer.alloc(size, 7)));
  t.is(third.out.messages.length, 1);
  t.is(second.out.messages.length, 0);
  t.like(budget.stats, { inUseBytes: 0, waiting: 0 });
});
