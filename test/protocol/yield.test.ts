/**
 * The protocol stops after a frame when its transport asks (yieldAfterFrame: the turn budget is
 * spent, or the send queue is full), says so (receive() returns false), and goes on when the
 * transport calls proceed(), in order, with input that arrived meanwhile: driven without sockets.
 */
import test from 'ava';
import { createCodec } from '../../src/codec/select.js';
import { WebSocketProtocol } from '../../src/protocol/protocol.js';
import { CODEC_KINDS } from '../helpers/codecs.js';
import type { CodecKind } from '../../src/codec/codec.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A client's frames for `count` text messages `m0`, `m1`, ... (built by a client-role protocol). */
function clientFrames(count: number, fragmentEvery = 0): Buffer {
  const bytes: Buffer[] = [];
  const client = new WebSocketProtocol(createCodec('js'), {
    message: () => undefined, closeTransport: () => undefined,
    write: (first, second) => { bytes.push(Buffer.from(first)); if (second) bytes.push(Buffer.from(second)); },
  }, { role: 'client', maxPayload: 1 << 20 });
  for (let i = 0; i < count; i++) client.send(fragmentEvery > 0 && i % fragmentEvery === 0 ? `m${i}`.padEnd(200, '.') : `m${i}`);
  return Buffer.concat(bytes);
}

/** A server-role protocol that keeps the text of each message it hands on. */
function collectingServer(kind: CodecKind, closed: () => void): { server: WebSocketProtocol; received: string[] } {
  const received: string[] = [];
  const server = new WebSocketProtocol(createCodec(kind), {
    message: (data) => received.push(data.toString()),
    write: () => undefined,
    closeTransport: closed,
  }, { role: 'server', maxPayload: 1 << 20 });
  return { server, received };
}

for (const kind of CODEC_KINDS) {
  test(`[${kind}] yieldAfterFrame stops after the frame being handled; proceed() goes on next turn, in order, with input received meanwhile`, async (t) => {
    const received: string[] = [];
    const codec = createCodec(kind);
    const server: WebSocketProtocol = new WebSocketProtocol(codec, {
      // Five messages per turn, as a transport's budget would allow.
      message: (data) => { if (received.push(data.toString()) % 5 === 0) server.yieldAfterFrame(); },
      write: () => undefined,
      closeTransport: () => t.fail('closed'),
    }, { role: 'server', maxPayload: 1 << 20 });
    const wire = clientFrames(600, 7);
    // As a socket reading into memory would leave it: in the read area when the codec has one.
    const area = codec.readArea();
    const first = wire.subarray(0, 40_000);
    const input = area === undefined ? first : (area.set(first), area.subarray(0, first.length));
    t.false(server.receive(input), 'stopped, and says so');
    t.is(received.length, 5, 'after the fifth message');
    t.true(server.isStopped);
    if (area !== undefined) area.fill(0, 0, first.length); // the next read reuses the area
    t.false(server.receive(wire.subarray(40_000)), 'read before the transport paused: kept, in order');
    t.is(received.length, 5);
    let stops = 1;
    while (!server.proceed()) {
      stops++;
      await nextTurn();
    }
    t.deepEqual(received.map((m) => m.replace(/\.+$/, '')), Array.from({ length: 600 }, (_, i) => `m${i}`));
    t.is(stops, 600 / 5, 'one stop per five messages, the last one included');
    t.false(server.isStopped);
  });
}

for (const kind of CODEC_KINDS) {
  test(`[${kind}] a transport that asks again at each proceed() gets one frame at a time (the server while its send queue is full)`, (t) => {
    const { server, received } = collectingServer(kind, () => t.fail('closed'));
    // Asked before the read (the queue was already full): the first frame is handled, then it stops.
    server.yieldAfterFrame();
    t.false(server.receive(clientFrames(10)));
    t.deepEqual(received, ['m0'], 'stopped after the first frame');
    server.yieldAfterFrame(); // still full: one more frame, then it stops again
    t.false(server.proceed());
    t.deepEqual(received, ['m0', 'm1']);
    t.true(server.proceed(), 'drained: the rest, and caught up');
    t.deepEqual(received, Array.from({ length: 10 }, (_, i) => `m${i}`), 'in order');
    t.true(server.receive(clientFrames(3)), 'the request lapsed once it was served');
    t.is(received.length, 13);
  });

  test(`[${kind}] a request made during a frame split over reads stops at that frame's end, not before`, (t) => {
    const { server, received } = collectingServer(kind, () => t.fail('closed'));
    const wire = clientFrames(3, 1); // three 200-byte messages
    t.true(server.receive(wire.subarray(0, 100)), 'half a frame: nothing to stop at');
    server.yieldAfterFrame();
    t.false(server.receive(wire.subarray(100)));
    t.is(received.length, 1, 'the split frame finished, then it stopped');
    t.true(server.proceed());
    t.is(received.length, 3);
  });
}
