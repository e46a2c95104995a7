/**
 * ProtocolOptions.messageView, without sockets: a message that arrives whole in one read is
 * handed on as a view of the bytes read (no copy); one assembled from several reads as a view of
 * a buffer the thread then reuses for the next such message. A payload that lies in memory the codec reuses and is sent back goes to the
 * output's writeLent(), or is copied for an output without one, so that what the output keeps
 * survives the next read.
 */
import test from 'ava';
import { createCodec } from '../../src/codec/select.js';
import { isLent } from '../../src/codec/lent-memory.js';
import type { FrameCodec } from '../../src/codec/codec.js';
import { WebSocketProtocol, type ProtocolSink } from '../../src/protocol/protocol.js';
import type { FrameSink } from '../../src/protocol/frame-encoder.js';
import { CODEC_KINDS } from '../helpers/codecs.js';
import { binary, pattern } from '../helpers/raw-client.js';

/** Puts `bytes` where a socket reading into memory would (the codec's read area, if it has one). */
function asRead(codec: FrameCodec, bytes: Uint8Array): Uint8Array {
  const area = codec.readArea();
  if (area === undefined) return Buffer.from(bytes);
  area.set(bytes);
  return area.subarray(0, bytes.length);
}

interface Received { data: Buffer; copy: Buffer; lent: boolean }

function server(codec: FrameCodec, messageView: boolean, output: FrameSink, onMessage?: (data: Buffer, protocol: WebSocketProtocol) => void) {
  const received: Received[] = [];
  const sink: ProtocolSink = {
    message: (data) => {
      received.push({ data, copy: Buffer.from(data), lent: isLent(data) });
      onMessage?.(data, protocol);
    },
    closeTransport: () => { throw new Error('closed'); },
  };
  const protocol: WebSocketProtocol = new WebSocketProtocol(codec, sink, { role: 'server', maxPayload: 1 << 20, messageView }, output);
  return { protocol, received };
}

const discard: FrameSink = { write: () => undefined };

for (const kind of CODEC_KINDS) {
  test(`[${kind}] with messageView a message whole in one read is a view of the bytes read; one spanning reads a view of a buffer the thread reuses`, (t) => {
    const codec = createCodec(kind);
    const { protocol, received } = server(codec, true, discard);
    const whole = pattern(3000, 1);
    const read = asRead(codec, binary(whole));
    protocol.receive(read);
    t.true(received[0]!.copy.equals(whole));
    t.is(received[0]!.data.buffer, read.buffer, 'no copy: a view of the read');
    t.is(received[0]!.lent, kind === 'wasm', 'lent when the codec reuses the memory it read into');

    const split = pattern(20_000, 2);
    const frame = binary(split);
    protocol.receive(asRead(codec, frame.subarray(0, 1000)));
    protocol.receive(asRead(codec, frame.subarray(1000)));
    t.true(received[1]!.copy.equals(split));
    t.true(received[1]!.lent, 'assembled from two reads into a spare buffer of the thread, lent too');

    // The next message spanning reads reuses that buffer: the view was valid during the call only.
    const next = pattern(20_000, 3);
    const nextFrame = binary(next);
    protocol.receive(asRead(codec, nextFrame.subarray(0, 1000)));
    protocol.receive(asRead(codec, nextFrame.subarray(1000)));
    t.true(received[2]!.copy.equals(next));
    t.is(received[2]!.data.buffer, received[1]!.data.buffer, 'the same buffer, no allocation');
  });

  test(`[${kind}] without messageView every message is the receiver's own`, (t) => {
    const codec = createCodec(kind);
    const { protocol, received } = server(codec, false, discard);
    const whole = pattern(3000, 3);
    protocol.receive(asRead(codec, binary(whole)));
    protocol.receive(asRead(codec, binary(pattern(3000, 4))));
    t.false(received[0]!.lent);
    t.true(received[0]!.data.equals(whole), 'intact after the next read');
  });
}

test('[wasm] a large lent payload sent back goes to writeLent uncopied; a small one, or one for an output without it, is copied', (t) => {
  for (const [size, withWriteLent, expected] of [[20_000, true, 'writeLent'], [20_000, false, 'write'], [4000, true, 'write']] as const) {
    const codec = createCodec('wasm');
    const kept: { bytes: Uint8Array; via: string }[] = [];
    const output: FrameSink = {
      write: (first, second) => { kept.push({ bytes: second === undefined ? first : Buffer.concat([first, second]), via: 'write' }); },
      ...(withWriteLent ? { writeLent: (header: Uint8Array, payload: Uint8Array) => kept.push({ bytes: payload, via: 'writeLent' }) } : {}),
    };
    const { protocol } = server(codec, true, output, (data, self) => self.send(data));
    const first = pattern(size, 5);
    protocol.receive(asRead(codec, binary(first)));
    t.is(kept.length, 1, `${size} bytes`);
    t.is(kept[0]!.via, expected, `${size} bytes, writeLent ${withWriteLent}`);
    if (expected === 'writeLent') {
      t.true(isLent(kept[0]!.bytes), 'the view itself: writeLent is done with it when it returns (the socket link\'s job)');
      continue;
    }
    protocol.receive(asRead(codec, binary(pattern(size, 6)))); // overwrites the read area
    t.true(Buffer.from(kept[0]!.bytes).subarray(-size).equals(first), 'what write() kept survives the next read');
  }
});
