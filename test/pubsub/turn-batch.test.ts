/**
 * A turn's publishes fanned out together (src/pubsub/turn-batch.ts), no sockets: one shared
 * buffer per topic and turn for every subscriber, in publish order, and never across a change
 * that would reorder or misdirect a message (another topic, a subscription change, a publish
 * that skips its publisher, a write of the thread's own).
 */
import test from 'ava';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createCodec } from '../../src/codec/select.js';
import { Broker, type Subscriber } from '../../src/pubsub/broker.js';
import { fanOutBatchedBroadcasts } from '../../src/pubsub/turn-batch.js';
import type { SharedFrame } from '../../src/protocol/shared-frame.js';
import type { HistoryReply, HistorySource, Sequenced } from '../../src/pubsub/history.js';
import { waitFor } from '../helpers/wait.js';

/** The text messages in a buffer of unmasked frames with 7-bit lengths. */
function messagesIn(bytes: Uint8Array): string[] {
  const messages: string[] = [];
  for (let at = 0; at < bytes.length;) {
    const length = bytes[at + 1]! & 0x7f;
    messages.push(Buffer.from(bytes.subarray(at + 2, at + 2 + length)).toString());
    at += 2 + length;
  }
  return messages;
}

class RecordingSubscriber implements Subscriber {
  readonly deflate = undefined;
  backlog = 0;
  queued = 0;
  /** One entry per deliver() call: the messages it carried. */
  readonly writes: string[][] = [];
  deliver(frame: SharedFrame): void { this.writes.push(messagesIn(frame.bytes)); }
  deliverCompressing(): void {}
  closeAsTooSlow(): void {}
  drop(): void {}
  get messages(): string[] { return this.writes.flat(); }
}

function broker(offsetWaitMs?: number): Broker {
  return new Broker({ codec: createCodec('wasm'), slowSubscriberBytes: 1 << 20, slowPolicy: 'drop', maxSubscriptions: 10, maxTotalSubscriptions: 100, offsetWaitMs });
}

test('a turn\'s publishes to one topic reach each subscriber once, as one shared buffer, in order, at the turn end', async (t) => {
  const b = broker();
  const subscribers = [new RecordingSubscriber(), new RecordingSubscriber(), new RecordingSubscriber()];
  for (const s of subscribers) b.subscribe('news', s);
  for (const text of ['one', 'two', 'three']) b.publish('news', Buffer.from(text), false);
  t.deepEqual(subscribers[0]!.writes, [], 'nothing before the turn ends');
  await nextTurn();
  for (const s of subscribers) t.deepEqual(s.writes, [['one', 'two', 'three']]);
  t.is(b.stats.deliveries, 9, 'counted per message');
});

test('a publish to another topic fans out the batch first: a subscriber of both keeps publish order', async (t) => {
  const b = broker();
  const both = new RecordingSubscriber();
  b.subscribe('a', both);
  b.subscribe('b', both);
  for (const [topic, text] of [['a', 'a1'], ['a', 'a2'], ['b', 'b1'], ['a', 'a3']] as const) b.publish(topic, Buffer.from(text), false);
  await nextTurn();
  t.deepEqual(both.writes, [['a1', 'a2'], ['b1'], ['a3']]);
});

test('a subscribe or unsubscribe mid-turn: earlier publishes go to those subscribed when they were made', (t) => {
  const b = broker();
  const leaving = new RecordingSubscriber();
  const joining = new RecordingSubscriber();
  b.subscribe('news', leaving);
  b.publish('news', Buffer.from('before'), false);
  b.subscribe('news', joining);
  b.unsubscribe('news', leaving);
  b.publish('news', Buffer.from('after'), false);
  b.fanOut();
  t.deepEqual(leaving.messages, ['before']);
  t.deepEqual(joining.messages, ['after']);
});

test('a publish that skips its publisher goes alone, after the batch, and not to the publisher', (t) => {
  const b = broker();
  const publisher = new RecordingSubscriber();
  const other = new RecordingSubscriber();
  b.subscribe('chat', publisher);
  b.subscribe('chat', other);
  b.publish('chat', Buffer.from('first'), false);
  b.publish('chat', Buffer.from('mine'), false, { except: publisher });
  b.publish('chat', Buffer.from('last'), false);
  b.fanOut();
  t.deepEqual(publisher.writes, [['first'], ['last']]);
  t.deepEqual(other.writes, [['first'], ['mine'], ['last']]);
});

test('a write of the thread\'s own (fanOutBatchedBroadcasts) delivers what every broker batched, at once', (t) => {
  const [b1, b2] = [broker(), broker()];
  const [s1, s2] = [new RecordingSubscriber(), new RecordingSubscriber()];
  b1.subscribe('x', s1);
  b2.subscribe('x', s2);
  b1.publish('x', Buffer.from('from b1'), false);
  b2.publish('x', Buffer.from('from b2'), false);
  fanOutBatchedBroadcasts();
  t.deepEqual(s1.messages, ['from b1']);
  t.deepEqual(s2.messages, ['from b2']);
});

test('a slow subscriber under drop loses the whole batch, each message counted', (t) => {
  const b = broker();
  const slow = new RecordingSubscriber();
  const fine = new RecordingSubscriber();
  slow.backlog = 2 << 20;
  b.subscribe('t', slow);
  b.subscribe('t', fine);
  for (let i = 0; i < 4; i++) b.publish('t', Buffer.from(`m${i}`), false);
  b.fanOut();
  t.deepEqual(slow.writes, []);
  t.deepEqual(fine.messages, ['m0', 'm1', 'm2', 'm3']);
  t.is(b.stats.dropped, 4);
  t.is(b.stats.deliveries, 4);
});

test('a batch past its size fans out and a new one starts', (t) => {
  const b = broker();
  const s = new RecordingSubscriber();
  b.subscribe('big', s);
  const text = 'y'.repeat(100);
  for (let i = 0; i < 1000; i++) b.publish('big', Buffer.from(text), false);
  b.fanOut();
  t.is(s.messages.length, 1000);
  t.true(s.messages.every((m) => m === text));
  t.true(s.writes.length > 1 && s.writes.length < 10, `${s.writes.length} writes for 100 KiB of frames`);
});

test('a publish to a topic nobody here holds is not batched; one a wildcard may match is', (t) => {
  const b = broker();
  const s = new RecordingSubscriber();
  b.subscribe('news', s);
  b.publish('news', Buffer.from('one'), false);
  b.publish('sport', Buffer.from('unheard'), false);
  b.publish('news', Buffer.from('two'), false);
  b.fanOut();
  t.deepEqual(s.writes, [['one', 'two']], 'the publish to sport did not split the batch of news');
  b.subscribe('sport.*', s);
  b.publish('sport.tennis', Buffer.from('matched'), false);
  b.fanOut();
  t.deepEqual(s.messages, ['one', 'two', 'matched']);
});

// Serial: a fan-out of the thread's batches (a write, the wait's bound) reaches every broker of the
// process, so these must not run beside the other tests of the file.

/** Offsets that come back when the test says, as Redis's or the main thread's do: some turns later. */
class LateOffsets implements HistorySource {
  readonly #waiting: Array<{ message: Uint8Array; done: (sequenced: Sequenced) => void }> = [];
  #offset = 0;
  sequence(_topic: string, message: Uint8Array, done: (sequenced: Sequenced) => void): void {
    this.#waiting.push({ message, done });
  }
  /** Gives the oldest `count` publishes their offsets. */
  answer(count: number): void {
    for (const { message, done } of this.#waiting.splice(0, count)) done({ payload: message, position: { offset: ++this.#offset, epoch: 'e' } });
  }
  read(_topic: string, _query: unknown, done: (reply: HistoryReply | undefined) => void): void { done(undefined); }
  presence(_topic: string, local: number, done: (count: number) => void): void { done(local); }
}

function historyBroker(offsetWaitMs?: number): { b: Broker; offsets: LateOffsets; s: RecordingSubscriber } {
  const b = broker(offsetWaitMs);
  const offsets = new LateOffsets();
  b.attachHistory(offsets);
  const s = new RecordingSubscriber();
  b.subscribe('log', s);
  return { b, offsets, s };
}

test.serial('history publishes out for their offsets: the batch waits past the turn end, and the last one back ends the wait', async (t) => {
  // A wait no loaded machine outlasts, so that only the offsets end it here.
  const { b, offsets, s } = historyBroker(60_000);
  for (const text of ['h1', 'h2', 'h3']) b.publish('log', Buffer.from(text), false, { history: true });
  offsets.answer(1);
  await nextTurn();
  await nextTurn();
  t.deepEqual(s.writes, [], 'kept while h2 and h3 are out');
  offsets.answer(2);
  await nextTurn();
  t.deepEqual(s.writes, [['h1', 'h2', 'h3']], 'one write for the three');
});

test.serial('a batch waiting for offsets that do not come back goes out on its own, soon', async (t) => {
  const { b, offsets, s } = historyBroker();
  b.publish('log', Buffer.from('h1'), false, { history: true });
  b.publish('log', Buffer.from('lost'), false, { history: true });
  offsets.answer(1);
  await waitFor(() => s.writes.length > 0, 5000, 2);
  t.deepEqual(s.writes, [['h1']]);
});

test.serial('a batch waiting for offsets goes out before a write of the thread\'s own', (t) => {
  const { b, offsets, s } = historyBroker(60_000);
  b.publish('log', Buffer.from('h1'), false, { history: true });
  b.publish('log', Buffer.from('h2'), false, { history: true });
  offsets.answer(1);
  fanOutBatchedBroadcasts();
  t.deepEqual(s.writes, [['h1']]);
});
