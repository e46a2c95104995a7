import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { ENTRY_OVERHEAD_BYTES, MemoryHistory, sequenceInMemory, withOffset } from '../../src/pubsub/history.js';

const message = (data: string) => Buffer.from(`{"type":"message","topic":"t","data":${JSON.stringify(data)}}`);

function history(size: number, maxBytes = 1 << 20, ttlMs = 60_000): MemoryHistory {
  const kept = new MemoryHistory({ size, ttlMs, maxBytes });
  return kept;
}

test('withOffset adds "offset" as the last field of the delivery', (t) => {
  t.is(withOffset(message('x'), 42).toString(), '{"type":"message","topic":"t","data":"x","offset":42}');
});

test('offsets are contiguous per topic and the ring keeps the last `size` deliveries', (t) => {
  const kept = history(3);
  t.teardown(() => kept.close());
  for (let i = 1; i <= 5; i++) t.is(sequenceInMemory(kept, 't', message(String(i))).position!.offset, i);
  t.is(sequenceInMemory(kept, 'other', message('o')).position!.offset, 1);
  const reply = kept.read('t', { limit: 10 });
  t.deepEqual(reply.entries.map((e) => e.offset), [3, 4, 5]);
  t.is(reply.position.offset, 5);
  const { epoch } = reply.position;
  t.deepEqual(kept.read('t', { since: { offset: 2, epoch } }).entries.map((e) => e.offset), [3, 4, 5]);
  t.false(kept.read('t', { since: { offset: 1, epoch } }).recovered, 'offset 2 is no longer kept');
  t.true(kept.read('t', { since: { offset: 5, epoch } }).recovered, 'up to date: nothing to replay');
  t.false(kept.read('t', { since: { offset: 6, epoch } }).recovered, 'a future offset is not ours');
});

test('past maxBytes the topics published least recently lose their messages, keeping their position', (t) => {
  const one = withOffset(message('0123456789'), 1).length + ENTRY_OVERHEAD_BYTES;
  const kept = history(100, 5 * one);
  t.teardown(() => kept.close());
  for (let i = 0; i < 3; i++) sequenceInMemory(kept, 'old', message('0123456789'));
  for (let i = 0; i < 3; i++) sequenceInMemory(kept, 'new', message('0123456789'));
  t.true(kept.bytes <= 5 * one);
  const old = kept.read('old', { limit: 10 });
  t.deepEqual(old.entries, [], 'the least recently published topic gave its messages up');
  t.is(old.position.offset, 3, 'its offsets go on');
  t.false(kept.read('old', { since: { offset: 1, epoch: old.position.epoch } }).recovered);
  t.is(kept.read('new', { limit: 10 }).entries.length, 3);
});

test('a topic silent past its TTL starts again at offset 1 under a new epoch', async (t) => {
  const kept = history(10, 1 << 20, 20);
  t.teardown(() => kept.close());
  const first = sequenceInMemory(kept, 't', message('a')).position!;
  await sleep(40);
  const again = kept.read('t', { since: first });
  t.false(again.recovered);
  t.is(again.position.offset, 0);
  t.not(again.position.epoch, first.epoch);
  t.is(kept.bytes, 0, 'the expired history is freed');
});

test('a history request for a topic with none keeps nothing; a subscriber joining keeps its epoch', (t) => {
  const kept = history(10);
  t.teardown(() => kept.close());
  for (let i = 0; i < 100; i++) t.is(kept.read(`asked.${i}`, { limit: 10 }).position.offset, 0);
  t.is(kept.topics, 0, 'asking about topics creates nothing');
  const joined = kept.read('joined', { join: true }).position;
  t.is(kept.topics, 1);
  t.deepEqual(kept.read('joined', {}).position, joined, 'the epoch a subscriber was given stays');
});
