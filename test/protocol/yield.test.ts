/**
 * The protocol stops when its sink's turn budget is spent (ProtocolSink.shouldYield) and goes
 * on in a later turn, in order, with input that arrived meanwhile: driven without sockets.
 */
import test from 'ava';
import { createCodec } from '../../src/codec/select.js';
import { WebSocketProtocol } from '../../src/protocol/protocol.js';
import { CODEC_KINDS } from '../helpers/codecs.js';
import { waitFor } from '../helpers/wait.js';

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

for (const kind of CODEC_KINDS) {
  test(`[${kind}] a spent budget stops after the frame, pauses input, and goes on next turn in order`, async (t) => {
    const received: string[] = [];
    const events: string[] = [];
    let framesThisTurn = 0;
    const codec = createCodec(kind);
    const server = new WebSocketProtocol(codec, {
      message: (data) => received.push(data.toString()),
      write: () => undefined,
      closeTransport: () => t.fail('closed'),
      pauseInput: () => events.push('pause'),
      resumeInput: () => events.push('resume'),
      // Five frames per turn.
      shouldYield: () => ++framesThisTurn % 5 === 0,
    }, { role: 'server', maxPayload: 1 << 20 });
    const wire = clientFrames(600, 7);
    // As a socket reading into memory would leave it: in the read area when the codec has one.
    const area = codec.readArea();
    const first = wire.subarray(0, 40_000);
    const input = area === undefined ? first : (area.set(first), area.subarray(0, first.length));
    server.receive(input);
    t.is(received.length, 5, 'stopped after the budget');
    t.deepEqual(events, ['pause']);
    if (area !== undefined) area.fill(0, 0, first.length); // the next read reuses the area
    server.receive(wire.subarray(40_000)); // read before the pause took effect: kept, in order
    await waitFor(async () => { await nextTurn(); return received.length === 600 && events.at(-1) === 'resume'; }, 30_000, 0);
    t.deepEqual(received.map((m) => m.replace(/\.+$/, '')), Array.from({ length: 600 }, (_, i) => `m${i}`));
    t.is(events.filter((e) => e === 'pause').length, events.filter((e) => e === 'resume').length);
    t.is(events.at(-1), 'resume');
  });
}

for (const kind of CODEC_KINDS) {
  test(`[${kind}] a sink with scheduleResume decides when processing goes on (the server waits for its send queue to drain)`, (t) => {
    const received: string[] = [];
    const resumes: Array<() => void> = [];
    let backpressured = true;
    const server = new WebSocketProtocol(createCodec(kind), {
      message: (data) => received.push(data.toString()),
      write: () => undefined,
      closeTransport: () => t.fail('closed'),
      shouldYield: () => backpressured,
      scheduleResume: (resume) => resumes.push(resume),
    }, { role: 'server', maxPayload: 1 << 20 });
    server.receive(clientFrames(10));
    t.deepEqual(received, ['m0'], 'stopped after the first frame');
    t.is(resumes.length, 1);
    resumes.shift()!(); // still backpressured: one more frame, then it stops again
    t.deepEqual(received, ['m0', 'm1']);
    backpressured = false;
    resumes.shift()!();
    t.deepEqual(received, Array.from({ length: 10 }, (_, i) => `m${i}`), 'the rest, in order, once drained');
    t.is(resumes.length, 0);
  });
}
