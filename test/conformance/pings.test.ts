/**
 * Conformance, Autobahn section 2 (pings and pongs): RFC 6455 §5.5.2 / §5.5.3. A ping gets a pong
 * with the same payload; control frames are at most 125 bytes and never fragmented.
 */
import test from 'ava';
import { RawClient, ping, pong, text, frame, pattern, Op } from '../helpers/raw-client.js';
import { conformanceSuite } from '../helpers/conformance-suite.js';

const conformance = conformanceSuite(test);

conformance('ping without payload gets a pong without payload', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(ping());
  const answer = await client.nextFrame();
  t.is(answer.opcode, Op.PONG);
  t.true(answer.fin);
  t.false(answer.masked);
  t.is(answer.payload.length, 0);
  client.destroy();
});

conformance('ping with a 125-byte payload gets a pong with the identical payload', async (t, port) => {
  const client = await RawClient.connect(port);
  const payload = pattern(125, 5);
  await client.send(ping(payload));
  const answer = await client.nextFrame();
  t.is(answer.opcode, Op.PONG);
  t.true(answer.payload.equals(payload));
  client.destroy();
});

conformance('ping with a binary payload including zero bytes gets it back unchanged', async (t, port) => {
  const client = await RawClient.connect(port);
  const payload = Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]);
  await client.send(ping(payload));
  const answer = await client.nextFrame();
  t.is(answer.opcode, Op.PONG);
  t.deepEqual([...answer.payload], [...payload]);
  client.destroy();
});

conformance('ping with a 126-byte payload closes with 1002 and gets no pong', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(ping(pattern(126)));
  const report = await client.untilClosed();
  t.is(report.closeCode, 1002);
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
  t.true(report.closedByServer);
});

conformance('ping of 125 bytes sent byte by byte gets a pong with the identical payload', async (t, port) => {
  const client = await RawClient.connect(port);
  const payload = pattern(125, 6);
  await client.sendChunked(ping(payload), 1);
  const answer = await client.nextFrame();
  t.is(answer.opcode, Op.PONG);
  t.true(answer.payload.equals(payload));
  client.destroy();
});

conformance('unsolicited pong is ignored', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(pong('unsolicited'), text('after pong'));
  const next = await client.nextFrame();
  t.is(next.opcode, Op.TEXT, 'nothing answers the pong: the next frame is the echo');
  t.is(next.payload.toString(), 'after pong');
  client.destroy();
});

conformance('unsolicited pong without payload, then a ping, gets only the pong for the ping', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(pong(), ping('answer me'));
  const next = await client.nextFrame();
  t.is(next.opcode, Op.PONG);
  t.is(next.payload.toString(), 'answer me');
  await client.send(text('done'));
  t.is((await client.nextFrame()).payload.toString(), 'done');
  client.destroy();
});

conformance('10 pings in one write get 10 pongs in order', async (t, port) => {
  const client = await RawClient.connect(port);
  const payloads = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
  await client.send(...payloads.map((p) => ping(p)));
  const answers = await client.nextFrames(10);
  t.deepEqual(answers.map((f) => f.opcode), payloads.map(() => Op.PONG));
  t.deepEqual(answers.map((f) => f.payload.toString()), payloads);
  client.destroy();
});

conformance('10 pings sent byte by byte get 10 pongs in order', async (t, port) => {
  const client = await RawClient.connect(port);
  const payloads = Array.from({ length: 10 }, (_, i) => `p${i}`);
  await client.sendChunked(Buffer.concat(payloads.map((p) => ping(p))), 1);
  const answers = await client.nextFrames(10);
  t.deepEqual(answers.map((f) => f.payload.toString()), payloads);
  client.destroy();
});

conformance('fragmented ping (FIN = 0) closes with 1002', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(frame({ opcode: Op.PING, payload: 'frag', fin: false }), frame({ opcode: Op.CONTINUATION, payload: 'ment' }));
  const report = await client.untilClosed();
  t.is(report.closeCode, 1002);
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE], 'no pong for a fragmented ping');
  t.true(report.closedByServer);
});

conformance('ping with a non-minimal 16-bit length encoding gets a pong', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(ping('long form', { lengthBits: 16 }));
  const answer = await client.nextFrame();
  t.is(answer.opcode, Op.PONG);
  t.is(answer.payload.toString(), 'long form');
  client.destroy();
});
