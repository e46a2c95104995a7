/** The broker against the thread's send pressure, no sockets: who gets a delivery while the queues are shedding. */
import test from 'ava';
import { createCodec } from '../../src/codec/select.js';
import { Broker, type SendPressure, type SlowSubscriberPolicy, type Subscriber } from '../../src/pubsub/broker.js';
import type { SharedFrame } from '../../src/protocol/shared-frame.js';

/** Each publish here is the 1-byte message 'x': a 3-byte frame. */
const FRAME_BYTES = 3;

class QueuedSubscriber implements Subscriber {
  readonly deflate = undefined;
  backlog = 0;
  frames: SharedFrame[] = [];
  dropped = 0;
  constructor(public queued: number) {}
  /** Messages received: a turn's publishes to a topic come as one shared buffer of their frames. */
  get messages(): number { return this.frames.reduce((sum, frame) => sum + frame.bytes.length / FRAME_BYTES, 0); }
  deliver(frame: SharedFrame): void { this.frames.push(frame); }
  deliverCompressing(): void {}
  closeAsTooSlow(): void {}
  drop(): void { this.dropped++; }
}

function setup(policy: SlowSubscriberPolicy, pressure: SendPressure) {
  const broker = new Broker({ codec: createCodec('js'), slowSubscriberBytes: 1 << 30, slowPolicy: policy, maxSubscriptions: 10, maxTotalSubscriptions: 100 }, pressure);
  const subscribers = [new QueuedSubscriber(0), new QueuedSubscriber(500), new QueuedSubscriber(2000)];
  for (const subscriber of subscribers) broker.subscribe('t', subscriber);
  return { broker, subscribers };
}

test('not shedding: everyone gets the one shared frame', (t) => {
  const { broker, subscribers } = setup('drop', { shedding: false, full: false, fairShare: () => 1000 });
  broker.publish('t', Buffer.from('x'), false);
  broker.fanOut();
  t.is(broker.stats.deliveries, 3);
  t.true(subscribers.every((s) => s.frames.length === 1 && s.frames[0] === subscribers[0]!.frames[0]));
});

test('shedding under drop: a subscriber past its share gets nothing, counted; the others get it', (t) => {
  const { broker, subscribers } = setup('drop', { shedding: true, full: false, fairShare: () => 1000 });
  broker.publish('t', Buffer.from('x'), false);
  broker.fanOut();
  t.deepEqual(subscribers.map((s) => s.frames.length), [1, 1, 0]);
  t.is(broker.stats.droppedBufferLimit, 1);
  t.true(subscribers.every((s) => s.dropped === 0), 'no one closed under drop');
});

test('full under drop: nobody gets it', (t) => {
  const { broker, subscribers } = setup('drop', { shedding: true, full: true, fairShare: () => 1000 });
  broker.publish('t', Buffer.from('x'), false);
  broker.fanOut();
  t.deepEqual(subscribers.map((s) => s.frames.length), [0, 0, 0]);
  t.is(broker.stats.droppedBufferLimit, 3);
});

test('shedding under close: a subscriber past its share is dropped once, counted once however many publishes', (t) => {
  const { broker, subscribers } = setup('close', { shedding: true, full: true, fairShare: () => 1000 });
  for (let i = 0; i < 5; i++) {
    broker.publish('t', Buffer.from('x'), false);
    broker.fanOut();
  }
  t.deepEqual(subscribers.map((s) => s.messages), [5, 5, 0], 'under close, those under their share are still served');
  t.is(subscribers[2]!.dropped, 1);
  t.is(broker.stats.closedSlow, 1);
  t.is(broker.stats.droppedBufferLimit, 0);
});
