/**
 * Conformance, Autobahn section 1 (framing) and 9 (large messages): text and binary messages of
 * every length-encoding boundary echo intact, however the bytes are cut into TCP writes.
 */
import {
  RawClient, text, binary, frame, fragments, pattern, splitEvery, Op, type ServerFrame,
} from '../helpers/raw-client.js';
import { conformanceSuite } from '../helpers/conformance-suite.js';
import test, { type ExecutionContext } from 'ava';

const conformance = conformanceSuite(test);

/** RFC 6455 §5.2: 125 is the largest 7-bit length, 126..65535 use 16 bits, larger use 64 bits. */
const LENGTHS = [0, 125, 126, 127, 128, 65535, 65536];

/** A text payload of exactly `length` bytes (ASCII, so every cut is a character boundary). */
function textPayload(length: number): Buffer {
  const bytes = pattern(length);
  for (let i = 0; i < length; i++) bytes[i] = 0x20 + (bytes[i] % 0x5f);
  return bytes;
}

function assertEcho(t: ExecutionContext, echoed: ServerFrame, opcode: number, payload: Buffer): void {
  t.is(echoed.opcode, opcode);
  t.true(echoed.fin, 'the echo is one unfragmented frame');
  t.is(echoed.rsv, 0);
  t.false(echoed.masked, 'RFC 6455 §5.1: server frames are not masked');
  t.is(echoed.payload.length, payload.length);
  t.true(echoed.payload.equals(payload), 'the payload is echoed byte for byte');
}

/** The smallest chunks the byte-by-byte cases use for a frame of this size (keeps them fast). */
function chunkSizeFor(frameLength: number): number {
  return frameLength <= 256 ? 1 : 4099; // an odd size: cuts fall at every mask phase
}

for (const length of LENGTHS) {
  conformance(`text message of ${length} bytes echoes intact`, async (t, port) => {
    const client = await RawClient.connect(port);
    const payload = textPayload(length);
    await client.send(text(payload));
    assertEcho(t, await client.nextFrame(), Op.TEXT, payload);
    client.destroy();
  });

  conformance(`binary message of ${length} bytes echoes intact`, async (t, port) => {
    const client = await RawClient.connect(port);
    const payload = pattern(length, length + 7);
    await client.send(binary(payload));
    assertEcho(t, await client.nextFrame(), Op.BINARY, payload);
    client.destroy();
  });

  conformance(`text message of ${length} bytes sent in small separate writes echoes intact`, async (t, port) => {
    const client = await RawClient.connect(port);
    const payload = textPayload(length);
    const bytes = text(payload);
    await client.sendChunked(bytes, chunkSizeFor(bytes.length));
    assertEcho(t, await client.nextFrame(), Op.TEXT, payload);
    client.destroy();
  });

  conformance(`binary message of ${length} bytes sent in small separate writes echoes intact`, async (t, port) => {
    const client = await RawClient.connect(port);
    const payload = pattern(length, 3);
    const bytes = binary(payload);
    await client.sendChunked(bytes, chunkSizeFor(bytes.length));
    assertEcho(t, await client.nextFrame(), Op.BINARY, payload);
    client.destroy();
  });
}

conformance('a frame header split at every byte is parsed (16- and 64-bit lengths)', async (t, port) => {
  const client = await RawClient.connect(port);
  const small = pattern(200, 11);
  const large = pattern(70_000, 12);
  const first = binary(small);
  const second = binary(large);
  // Header and mask key one byte per write (4 + 4 and 10 + 4 bytes), then the payload at once.
  await client.sendParts([...splitEvery(first.subarray(0, 8), 1), first.subarray(8)]);
  await client.sendParts([...splitEvery(second.subarray(0, 14), 1), second.subarray(14)]);
  assertEcho(t, await client.nextFrame(), Op.BINARY, small);
  assertEcho(t, await client.nextFrame(), Op.BINARY, large);
  client.destroy();
});

conformance('non-minimal length encodings (16- and 64-bit for short payloads) are accepted', async (t, port) => {
  const client = await RawClient.connect(port);
  const payloads = [Buffer.from('a'), Buffer.from('sixteen'), pattern(125), pattern(300)];
  await client.send(
    text(payloads[0], { lengthBits: 16 }),
    text(payloads[1], { lengthBits: 64 }),
    binary(payloads[2], { lengthBits: 64 }),
    binary(payloads[3], { lengthBits: 64 }),
    binary(Buffer.alloc(0), { lengthBits: 16 }),
  );
  assertEcho(t, await client.nextFrame(), Op.TEXT, payloads[0]);
  assertEcho(t, await client.nextFrame(), Op.TEXT, payloads[1]);
  assertEcho(t, await client.nextFrame(), Op.BINARY, payloads[2]);
  assertEcho(t, await client.nextFrame(), Op.BINARY, payloads[3]);
  assertEcho(t, await client.nextFrame(), Op.BINARY, Buffer.alloc(0));
  client.destroy();
});

conformance('an all-zero mask key leaves the payload as sent', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text('plain', { maskKey: Buffer.alloc(4) }));
  assertEcho(t, await client.nextFrame(), Op.TEXT, Buffer.from('plain'));
  client.destroy();
});

conformance('300 small frames in one write echo in order', async (t, port) => {
  const client = await RawClient.connect(port);
  const messages = Array.from({ length: 300 }, (_, i) => `message ${i}`);
  await client.send(...messages.map((m, i) => (i % 2 === 0 ? text(m) : binary(m))));
  const echoed = await client.nextFrames(messages.length);
  t.deepEqual(echoed.map((f) => f.payload.toString()), messages);
  t.deepEqual(echoed.map((f) => f.opcode), messages.map((_, i) => (i % 2 === 0 ? Op.TEXT : Op.BINARY)));
  client.destroy();
});

conformance('frames sent in the same write as the upgrade request are echoed', async (t, port) => {
  const client = await RawClient.connect(port, { head: Buffer.concat([text('first'), binary(pattern(300))]) });
  assertEcho(t, await client.nextFrame(), Op.TEXT, Buffer.from('first'));
  assertEcho(t, await client.nextFrame(), Op.BINARY, pattern(300));
  client.destroy();
});

const MIB = 1024 * 1024;

conformance('a 1 MiB binary message echoes intact', async (t, port) => {
  const client = await RawClient.connect(port);
  const payload = pattern(MIB, 99);
  await client.send(binary(payload));
  assertEcho(t, await client.nextFrame(), Op.BINARY, payload);
  client.destroy();
});

conformance('a 1 MiB binary message sent in 64 KiB + 1 chunks echoes intact', async (t, port) => {
  const client = await RawClient.connect(port);
  const payload = pattern(MIB, 98);
  await client.sendChunked(binary(payload), 65_537);
  assertEcho(t, await client.nextFrame(), Op.BINARY, payload);
  client.destroy();
});

conformance('a 1 MiB text message followed by a small one in the same write both echo', async (t, port) => {
  const client = await RawClient.connect(port);
  const payload = textPayload(MIB);
  await client.send(text(payload), text('after'));
  assertEcho(t, await client.nextFrame(), Op.TEXT, payload);
  assertEcho(t, await client.nextFrame(), Op.TEXT, Buffer.from('after'));
  client.destroy();
});

conformance('a 16 MiB text message (exactly maxPayload) echoes intact', async (t, port) => {
  const client = await RawClient.connect(port);
  const payload = textPayload(16 * MIB);
  await client.send(text(payload));
  assertEcho(t, await client.nextFrame(15_000), Op.TEXT, payload);
  client.destroy();
});

conformance('a 64 KiB text message in 1300-byte fragments sent in separate writes echoes whole', async (t, port) => {
  const client = await RawClient.connect(port);
  // Autobahn 10.1.1 (auto-fragmentation), with multibyte characters cut by the fragment edges.
  const payload = Buffer.from('aä€😀'.repeat(6553) + 'aaaaaa', 'utf8'); // 10 bytes per repeat: 65536
  const cuts = Array.from({ length: Math.floor((payload.length - 1) / 1300) }, (_, i) => (i + 1) * 1300);
  await client.sendParts(fragments(Op.TEXT, payload, cuts));
  assertEcho(t, await client.nextFrame(), Op.TEXT, payload);
  client.destroy();
});

conformance('a 64-bit length with its most significant bit set closes with 1002', async (t, port) => {
  const client = await RawClient.connect(port);
  const bad = frame({ opcode: Op.BINARY, payload: 'x', lengthBits: 64 });
  bad[2] |= 0x80; // RFC 6455 §5.2: the most significant bit must be 0
  await client.send(bad);
  const report = await client.untilClosed();
  t.is(report.closeCode, 1002);
  t.true(report.closedByServer);
});

// RECORD_CAPACITY in src/codec/codec.ts: a scan reports at most 256 frames, then resumes.
for (const count of [255, 256, 257, 512]) {
  conformance(`${count} frames and a partial header in one write, the rest in the next, echo in order`, async (t, port) => {
    const client = await RawClient.connect(port);
    const frames = Array.from({ length: count + 1 }, (_, i) => binary(`#${i}`));
    const last = frames[count];
    await client.sendParts([Buffer.concat([...frames.slice(0, count), last.subarray(0, 3)]), last.subarray(3)]);
    const echoed = await client.nextFrames(count + 1);
    t.deepEqual(echoed.map((f) => f.payload.toString()), frames.map((_, i) => `#${i}`));
    client.destroy();
  });
}

conformance('a client that stops reading while sending 8 MiB of messages gets every echo after it resumes', async (t, port) => {
  const client = await RawClient.connect(port);
  const messages = Array.from({ length: 8 }, (_, i) => pattern(1024 * 1024, 200 + i));
  client.pause();
  // Not awaited: with both sides' buffers full, the writes complete only once the client reads.
  const sent = client.send(...messages.map((m) => binary(m)));
  // Let the server's write queue pass its high-water mark before reading again (timing only
  // decides how much backpressure builds up, not the outcome).
  await new Promise((resolve) => setTimeout(resolve, 100));
  client.resume();
  const echoed = await client.nextFrames(messages.length, 20_000);
  await sent;
  for (let i = 0; i < messages.length; i++) t.true(echoed[i].payload.equals(messages[i]), `message ${i} echoed intact`);
});
