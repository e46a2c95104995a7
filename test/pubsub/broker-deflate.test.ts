/**
 * The broker with permessage-deflate subscribers, no sockets: a publish big enough to compress
 * is compressed once per window size and that one buffer goes to every subscriber without
 * server context takeover; subscribers with context takeover compress it themselves; the
 * others, and every subscriber of a publish under the threshold, get the one plain frame.
 */
import test from 'ava';
import { createCodec } from '../../src/codec/select.js';
import { Broker, type Subscriber, type SubscriberDeflate } from '../../src/pubsub/broker.js';
import type { SharedFrame } from '../../src/protocol/shared-frame.js';
import type { CompressorSettings } from '../../src/protocol/compression.js';
import { inflate } from '../helpers/deflate.js';

const COMPRESSOR: CompressorSettings = { threshold: 64, maxCompressBytes: 4096, level: 6, memLevel: 8 };

class FakeSubscriber implements Subscriber {
  readonly frames: Uint8Array[] = [];
  readonly compressing: Array<{ payload: Buffer; isBinary: boolean }> = [];
  backlog = 0;
  queued = 0;
  constructor(readonly deflate: SubscriberDeflate | undefined) {}
  deliver(frame: SharedFrame): void { this.frames.push(frame.bytes); }
  deliverCompressing(payload: Uint8Array, isBinary: boolean): void { this.compressing.push({ payload: Buffer.from(payload), isBinary }); }
  closeAsTooSlow(): void {}
  drop(): void {}
}

/** `null`: a broker of a server that does not compress. */
function setup(compressor: CompressorSettings | null = COMPRESSOR) {
  const broker = new Broker({ codec: createCodec('js'), slowSubscriberBytes: 1 << 20, slowPolicy: 'drop', compressor: compressor ?? undefined,
    maxSubscriptions: 1000, maxTotalSubscriptions: 1_000_000 });
  const subscribers = {
    plain: new FakeSubscriber(undefined),
    shared15a: new FakeSubscriber({ kind: 'shared', windowBits: 15 }),
    shared15b: new FakeSubscriber({ kind: 'shared', windowBits: 15 }),
    shared10: new FakeSubscriber({ kind: 'shared', windowBits: 10 }),
    own: new FakeSubscriber({ kind: 'own' }),
  };
  for (const subscriber of Object.values(subscribers)) broker.subscribe('news.*', subscriber);
  return { broker, ...subscribers };
}

/** [byte0, payload] of one unmasked frame. */
function split(frame: Uint8Array): { byte0: number; payload: Buffer } {
  const bytes = Buffer.from(frame);
  const length7 = bytes[1] & 0x7f;
  return { byte0: bytes[0], payload: bytes.subarray(2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0)) };
}

const message = Buffer.from('{"type":"message","topic":"news.sport","data":"' + 'goal! '.repeat(50) + '"}');

test('a compressible publish is compressed once per window size and shared; context takeover subscribers compress it themselves', (t) => {
  const { broker, plain, shared15a, shared15b, shared10, own } = setup();
  broker.publish('news.sport', message, false);
  broker.fanOut();
  t.is(shared15a.frames[0], shared15b.frames[0], 'one buffer for every subscriber with the same window');
  t.not(shared10.frames[0], shared15a.frames[0]);
  for (const shared of [shared15a, shared10]) {
    const { byte0, payload } = split(shared.frames[0]);
    t.is(byte0, 0x80 | 0x40 | 0x01, 'FIN, RSV1 (compressed), text');
    t.true(inflate(payload).equals(message));
  }
  const { byte0, payload } = split(plain.frames[0]);
  t.is(byte0, 0x81, 'the plain frame has no RSV1');
  t.true(payload.equals(message));
  t.deepEqual(own.frames, []);
  t.deepEqual(own.compressing, [{ payload: message, isBinary: false }]);
  t.is(broker.stats.deliveries, 5);
});

test('a publish under the threshold or over maxCompressBytes is the one plain frame for everyone', (t) => {
  for (const payload of [Buffer.alloc(63, 0x61), Buffer.alloc(4097, 0x61)]) {
    const { broker, plain, shared15a, shared10, own } = setup();
    broker.publish('news.sport', payload, true);
    broker.fanOut();
    for (const subscriber of [shared15a, shared10, own]) t.is(subscriber.frames[0], plain.frames[0], `${payload.length} bytes`);
    t.is(split(plain.frames[0]).byte0, 0x82);
    t.deepEqual(own.compressing, []);
  }
});

test('a broker without a compressor sends the plain frame even to deflate subscribers', (t) => {
  const { broker, plain, shared15a, own } = setup(null);
  broker.publish('news.sport', message, false);
  broker.fanOut();
  t.is(shared15a.frames[0], plain.frames[0]);
  t.is(own.frames[0], plain.frames[0]);
});
