/** The broker's subscription limits: per subscriber and per broker, refused and counted. */
import test from 'ava';
import { createCodec } from '../../src/codec/select.js';
import { Broker, type Subscriber } from '../../src/pubsub/broker.js';

class CountingSubscriber implements Subscriber {
  readonly deflate = undefined;
  backlog = 0;
  queued = 0;
  frames = 0;
  deliver(): void { this.frames++; }
  deliverCompressing(): void { this.frames++; }
  closeAsTooSlow(): void {}
  drop(): void {}
}

function broker(maxSubscriptions: number, maxTotalSubscriptions: number): Broker {
  return new Broker({ codec: createCodec('js'), slowSubscriberBytes: 1 << 20, slowPolicy: 'drop', maxSubscriptions, maxTotalSubscriptions });
}

test('a subscriber past maxSubscriptions is refused with too_many_subscriptions, and counted', (t) => {
  const b = broker(3, 100);
  const s = new CountingSubscriber();
  for (const pattern of ['a', 'a.*', 'a.>']) t.is(b.subscribe(pattern, s), undefined, pattern);
  t.like(b.subscribe('b', s), { code: 'too_many_subscriptions' });
  t.is(b.subscribe('a.*', s), undefined, 'a pattern it already has is no new subscription');
  t.is(b.stats.tooManySubscriptions, 1);
  t.is(b.subscriptionCount, 3);
  b.unsubscribe('a', s);
  t.is(b.subscribe('b', s), undefined, 'room again after an unsubscribe');
  b.publish('a.x', new Uint8Array(1), false);
  b.fanOut();
  t.is(b.stats.deliveries, 1, 'a.* and a.> both match: one delivery');
  t.is(s.frames, 1);
});

test('past maxTotalSubscriptions every subscriber is refused until some leave', (t) => {
  const b = broker(10, 5);
  const [first, second] = [new CountingSubscriber(), new CountingSubscriber()];
  for (let i = 0; i < 4; i++) t.is(b.subscribe(`t.${i}`, first), undefined);
  t.is(b.subscribe('t.0', second), undefined);
  t.like(b.subscribe('t.1', second), { code: 'too_many_subscriptions' });
  t.like(b.subscribe('t.9', first), { code: 'too_many_subscriptions' });
  t.is(b.stats.tooManyTotalSubscriptions, 2);
  t.is(b.stats.tooManySubscriptions, 0);
  b.removeSubscriber(first);
  t.is(b.subscriptionCount, 1);
  t.is(b.subscribe('t.1', second), undefined);
});
