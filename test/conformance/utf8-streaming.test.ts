/**
 * Conformance, Autobahn 6.4 and beyond (streaming UTF-8): RFC 6455 §8.1 lets an endpoint fail a
 * text message as soon as its bytes cannot be valid UTF-8. The validator's state must survive
 * fragment, TCP-write and interleaved-control-frame boundaries, and start clean for each message.
 */
import test, { type ExecutionContext } from 'ava';
import { RawClient, text, binary, continuation, ping, Op } from '../helpers/raw-client.js';
import { conformanceSuite } from '../helpers/conformance-suite.js';

const conformance = conformanceSuite(test);

const hex = (s: string): Buffer => Buffer.from(s.replace(/ /g, ''), 'hex');

/** "κόσμε", the Autobahn 6.2 sample. */
const KOSME = hex('ce ba e1 bd b9 cf 83 ce bc ce b5');

// --- fail fast --------------------------------------------------------------------------------

/** Waits for the close frame with nothing more sent, then for the server to close TCP. */
async function assertClosedWith1007Now(t: ExecutionContext, client: RawClient): Promise<void> {
  const closeFrame = await client.nextFrame();
  t.is(closeFrame.opcode, Op.CLOSE);
  t.is(closeFrame.payload.readUInt16BE(0), 1007);
  const report = await client.untilClosed();
  t.true(report.closedByServer);
  t.is(report.frames.length, 1);
}

conformance('fragmented text whose first fragment has an invalid byte closes with 1007 before the rest is sent', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text(Buffer.concat([Buffer.from('hello'), hex('c0 80'), Buffer.from('world')]), { fin: false }));
  await assertClosedWith1007Now(t, client);
});

conformance('fragmented text whose second fragment has an invalid sequence closes with 1007 before the final fragment', async (t, port) => {
  const client = await RawClient.connect(port);
  // Autobahn 6.4.1: κόσμε, then F4 90 80 80 (above U+10FFFF), then the final fragment is held back.
  await client.send(text(KOSME, { fin: false }), continuation(hex('f4 90 80 80'), false));
  await assertClosedWith1007Now(t, client);
});

conformance('an invalid sequence split across fragments closes with 1007 before the final fragment', async (t, port) => {
  const client = await RawClient.connect(port);
  // Autobahn 6.4.2: F4 ends fragment 2, 90 80 80 starts fragment 3, a fourth is held back.
  await client.send(text(KOSME, { fin: false }), continuation(hex('f4'), false), continuation(hex('90 80 80'), false));
  await assertClosedWith1007Now(t, client);
});

conformance('invalid byte in the middle of a large text frame closes with 1007 after the first half alone', async (t, port) => {
  const client = await RawClient.connect(port);
  const payload = Buffer.alloc(64 * 1024, 0x61);
  payload[20_000] = 0xff;
  const bytes = text(payload);
  await client.send(bytes.subarray(0, 10 + 4 + 32 * 1024)); // header (64-bit length + mask) and half the payload
  await assertClosedWith1007Now(t, client);
});

conformance('a first write ending after F4 90 closes with 1007 without the rest of the frame', async (t, port) => {
  const client = await RawClient.connect(port);
  // Autobahn 6.4.3: the second byte already proves the sequence invalid.
  const bytes = text(Buffer.concat([KOSME, hex('f4 90 80 80'), Buffer.from('edited')]));
  await client.send(bytes.subarray(0, 2 + 4 + KOSME.length + 2));
  await assertClosedWith1007Now(t, client);
});

conformance('a valid text message before an invalid one is echoed before the 1007 close', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text(KOSME), text(hex('ed a0 80')), text('never echoed'));
  const report = await client.untilClosed();
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.TEXT, Op.CLOSE]);
  t.true(report.frames[0].payload.equals(KOSME));
  t.is(report.closeCode, 1007);
});

// --- validator state across control frames and between messages ------------------------------

conformance('a character split across fragments with a ping between them echoes whole', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text(hex('41 ce'), { fin: false }), ping(hex('ff fe')), continuation(hex('ba f0 9f'), false), ping(), continuation(hex('8e 89'), true));
  const [first, second, echoed] = await client.nextFrames(3);
  t.deepEqual([first.opcode, second.opcode], [Op.PONG, Op.PONG]);
  t.true(first.payload.equals(hex('ff fe')), 'a ping payload is not UTF-8-checked');
  t.is(echoed.opcode, Op.TEXT);
  t.true(echoed.payload.equals(hex('41 ce ba f0 9f 8e 89')));
  client.destroy();
});

conformance('invalid UTF-8 in a continuation after an interleaved ping closes with 1007', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text(hex('41 ce'), { fin: false }), ping('p'), continuation(hex('41'), true));
  const report = await client.untilClosed();
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.PONG, Op.CLOSE]);
  t.is(report.closeCode, 1007);
});

conformance('continuations of a binary message after a text message are not UTF-8-checked', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text(KOSME, { fin: false }), continuation(KOSME, true), binary(hex('ce'), { fin: false }), continuation(hex('ff 80'), true));
  const [first, second] = await client.nextFrames(2);
  t.is(first.opcode, Op.TEXT);
  t.true(first.payload.equals(Buffer.concat([KOSME, KOSME])));
  t.is(second.opcode, Op.BINARY);
  t.true(second.payload.equals(hex('ce ff 80')));
  client.destroy();
});

conformance('a text message after a binary message with invalid bytes is validated from a clean state', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(binary(hex('e1 bd')), text(hex('b9 41')));
  const report = await client.untilClosed();
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.BINARY, Op.CLOSE]);
  t.is(report.closeCode, 1007, 'B9 starts a text message: a lone continuation byte');
});

conformance('a text message starting after one that ended cleanly is validated from a clean state', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text(KOSME), text(hex('c3 a9')), text(hex('a9')));
  const report = await client.untilClosed();
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.TEXT, Op.TEXT, Op.CLOSE]);
  t.is(report.closeCode, 1007);
});
