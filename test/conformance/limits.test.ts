/**
 * Conformance, Autobahn section 9 limits: RFC 6455 §7.4.1 code 1009 ("message too big"). With
 * maxPayload 1024, a frame or a fragmented message over 1024 bytes fails the connection with 1009,
 * as soon as a header announces the excess; exactly 1024 bytes are echoed.
 */
import test from 'ava';
import { RawClient, text, binary, continuation, frame, ping, pattern, Op } from '../helpers/raw-client.js';
import { conformanceSuite } from '../helpers/conformance-suite.js';

const MAX_PAYLOAD = 1024;

const conformance = conformanceSuite(test, { maxPayload: MAX_PAYLOAD });

conformance('text message of exactly maxPayload (1024) bytes echoes intact', async (t, port) => {
  const client = await RawClient.connect(port);
  const payload = Buffer.alloc(MAX_PAYLOAD, 0x61);
  await client.send(text(payload));
  const echoed = await client.nextFrame();
  t.is(echoed.opcode, Op.TEXT);
  t.true(echoed.payload.equals(payload));
  client.destroy();
});

conformance('binary message of exactly maxPayload bytes with a 64-bit length echoes intact', async (t, port) => {
  const client = await RawClient.connect(port);
  const payload = pattern(MAX_PAYLOAD, 8);
  await client.send(binary(payload, { lengthBits: 64 }));
  const echoed = await client.nextFrame();
  t.is(echoed.opcode, Op.BINARY);
  t.true(echoed.payload.equals(payload));
  client.destroy();
});

conformance('fragmented message totalling exactly maxPayload bytes echoes whole', async (t, port) => {
  const client = await RawClient.connect(port);
  const payload = pattern(MAX_PAYLOAD, 9);
  await client.send(binary(payload.subarray(0, 500), { fin: false }), ping('limit'), continuation(payload.subarray(500), true));
  const [answer, echoed] = await client.nextFrames(2);
  t.is(answer.opcode, Op.PONG, 'control frames do not count towards the message size');
  t.is(echoed.opcode, Op.BINARY);
  t.true(echoed.payload.equals(payload));
  client.destroy();
});

for (const [name, build] of [['text', text], ['binary', binary]] as const) {
  conformance(`${name} frame of 1025 bytes (over maxPayload) closes with 1009`, async (t, port) => {
    const client = await RawClient.connect(port);
    await client.send(build(Buffer.alloc(MAX_PAYLOAD + 1, 0x62)));
    const report = await client.untilClosed();
    t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE], 'nothing is echoed');
    t.is(report.closeCode, 1009);
    t.true(report.closedByServer);
  });
}

conformance('a header announcing 1025 bytes closes with 1009 before the payload is sent', async (t, port) => {
  const client = await RawClient.connect(port);
  const bytes = binary(Buffer.alloc(MAX_PAYLOAD + 1));
  await client.send(bytes.subarray(0, 2 + 2 + 4)); // the header alone: 16-bit length and mask key
  const closeFrame = await client.nextFrame();
  t.is(closeFrame.opcode, Op.CLOSE);
  t.is(closeFrame.payload.readUInt16BE(0), 1009);
  t.true((await client.untilClosed()).closedByServer);
});

conformance('a header announcing 2^40 bytes closes with 1009 at once', async (t, port) => {
  const client = await RawClient.connect(port);
  const header = frame({ opcode: Op.BINARY, payload: Buffer.alloc(1), lengthBits: 64 }).subarray(0, 14);
  header.writeBigUInt64BE(2n ** 40n, 2);
  await client.send(header);
  const closeFrame = await client.nextFrame();
  t.is(closeFrame.payload.readUInt16BE(0), 1009);
  t.true((await client.untilClosed()).closedByServer);
});

conformance('a header announcing 2^32 + 1 bytes closes with 1009 (the high length word counts)', async (t, port) => {
  const client = await RawClient.connect(port);
  const bytes = frame({ opcode: Op.BINARY, payload: Buffer.alloc(1), lengthBits: 64 });
  bytes.writeBigUInt64BE(2n ** 32n + 1n, 2);
  await client.send(bytes);
  const closeFrame = await client.nextFrame();
  t.is(closeFrame.opcode, Op.CLOSE, 'a 1-byte frame would be echoed if the high word were dropped');
  t.is(closeFrame.payload.readUInt16BE(0), 1009);
});

conformance('fragmented message totalling 1025 bytes closes with 1009', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text(Buffer.alloc(512, 0x61), { fin: false }), continuation(Buffer.alloc(513, 0x62), true));
  const report = await client.untilClosed();
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
  t.is(report.closeCode, 1009);
  t.true(report.closedByServer);
});

conformance('fragmented message growing past maxPayload closes with 1009 before its final fragment', async (t, port) => {
  const client = await RawClient.connect(port);
  const parts = [text(Buffer.alloc(400, 0x61), { fin: false }), continuation(Buffer.alloc(400, 0x62), false)];
  await client.send(...parts, continuation(Buffer.alloc(400, 0x63), false));
  const closeFrame = await client.nextFrame();
  t.is(closeFrame.opcode, Op.CLOSE);
  t.is(closeFrame.payload.readUInt16BE(0), 1009);
  t.true((await client.untilClosed()).closedByServer);
});

conformance('many small messages whose sum exceeds maxPayload all echo (the limit is per message)', async (t, port) => {
  const client = await RawClient.connect(port);
  const messages = Array.from({ length: 5 }, (_, i) => Buffer.alloc(MAX_PAYLOAD, 0x30 + i));
  await client.send(...messages.map((m) => binary(m)));
  const echoed = await client.nextFrames(messages.length);
  for (let i = 0; i < messages.length; i++) t.true(echoed[i].payload.equals(messages[i]));
  client.destroy();
});
