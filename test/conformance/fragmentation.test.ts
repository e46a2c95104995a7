/**
 * Conformance, Autobahn section 5 (fragmentation): RFC 6455 §5.4. A message is a text or binary
 * frame with FIN = 0, continuations, and a final continuation with FIN = 1; control frames may
 * come between fragments but are never fragmented themselves.
 */
import test from 'ava';
import {
  RawClient, frame, fragments, text, binary, continuation, ping, close, pattern, Op,
} from '../helpers/raw-client.js';
import { conformanceSuite } from '../helpers/conformance-suite.js';

const conformance = conformanceSuite(test);

conformance('text message in 2 fragments echoes as one text message', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text('fragment1', { fin: false }), continuation('fragment2', true));
  const echoed = await client.nextFrame();
  t.is(echoed.opcode, Op.TEXT);
  t.true(echoed.fin);
  t.is(echoed.payload.toString(), 'fragment1fragment2');
  client.destroy();
});

conformance('binary message in 2 fragments sent in separate writes echoes as one binary message', async (t, port) => {
  const client = await RawClient.connect(port);
  const payload = pattern(1000, 21);
  await client.sendParts(fragments(Op.BINARY, payload, [300]));
  const echoed = await client.nextFrame();
  t.is(echoed.opcode, Op.BINARY);
  t.true(echoed.payload.equals(payload));
  client.destroy();
});

conformance('text message in many fragments of varied sizes echoes whole', async (t, port) => {
  const client = await RawClient.connect(port);
  const message = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(500));
  const cuts = [1, 2, 3, 125, 126, 127, 128, 1000, 4096, 4097, 20_000];
  await client.send(...fragments(Op.TEXT, message, cuts));
  const echoed = await client.nextFrame();
  t.is(echoed.opcode, Op.TEXT);
  t.true(echoed.payload.equals(message));
  client.destroy();
});

conformance('fragments of length 0 (first, middle and last) are accepted', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(
    text('', { fin: false }), continuation('a', false), continuation('', false), continuation('b', false), continuation('', true),
    binary('', { fin: false }), continuation('', true),
  );
  const [first, second] = await client.nextFrames(2);
  t.is(first.opcode, Op.TEXT);
  t.is(first.payload.toString(), 'ab');
  t.is(second.opcode, Op.BINARY);
  t.is(second.payload.length, 0);
  client.destroy();
});

conformance('ping between fragments is answered first and the message echoes whole', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text('fragment1', { fin: false }), ping('in between'), continuation('fragment2', true));
  const [first, second] = await client.nextFrames(2);
  t.is(first.opcode, Op.PONG);
  t.is(first.payload.toString(), 'in between');
  t.is(second.opcode, Op.TEXT);
  t.is(second.payload.toString(), 'fragment1fragment2');
  client.destroy();
});

conformance('ping between fragments in separate writes gets its pong before the message ends', async (t, port) => {
  const client = await RawClient.connect(port);
  // Autobahn 5.19: the pong must come while the message is still incomplete.
  await client.send(text('f1', { fin: false }), continuation('f2', false), ping('ping 1'));
  const first = await client.nextFrame();
  t.is(first.opcode, Op.PONG);
  t.is(first.payload.toString(), 'ping 1');
  await client.send(continuation('f3', false), continuation('f4', false), ping('ping 2'));
  const second = await client.nextFrame();
  t.is(second.opcode, Op.PONG);
  t.is(second.payload.toString(), 'ping 2');
  await client.send(continuation('f5', true));
  const echoed = await client.nextFrame();
  t.is(echoed.opcode, Op.TEXT);
  t.is(echoed.payload.toString(), 'f1f2f3f4f5');
  client.destroy();
});

conformance('fragmented message and interleaved pings sent byte by byte echo correctly', async (t, port) => {
  const client = await RawClient.connect(port);
  const bytes = Buffer.concat([binary('ab', { fin: false }), ping('x'), continuation('cd', false), ping(''), continuation('ef', true)]);
  await client.sendChunked(bytes, 1);
  const frames = await client.nextFrames(3);
  t.deepEqual(frames.map((f) => f.opcode), [Op.PONG, Op.PONG, Op.BINARY]);
  t.is(frames[2].payload.toString(), 'abcdef');
  client.destroy();
});

conformance('unsolicited pong between fragments is ignored', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text('a', { fin: false }), frame({ opcode: Op.PONG, payload: 'p' }), continuation('b', true));
  const echoed = await client.nextFrame();
  t.is(echoed.opcode, Op.TEXT);
  t.is(echoed.payload.toString(), 'ab');
  client.destroy();
});

for (const fin of [true, false]) {
  conformance(`continuation (FIN = ${fin ? 1 : 0}) without a started message closes with 1002`, async (t, port) => {
    const client = await RawClient.connect(port);
    await client.send(continuation('orphan', fin));
    const report = await client.untilClosed();
    t.is(report.closeCode, 1002);
    t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
    t.true(report.closedByServer);
  });
}

conformance('continuation after a complete message closes with 1002 after the echo', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text('complete'), continuation('orphan', true));
  const report = await client.untilClosed();
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.TEXT, Op.CLOSE]);
  t.is(report.closeCode, 1002);
});

conformance('continuations sent as a fragmented message with no first frame close with 1002', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.sendParts([continuation('a', false), continuation('b', false), continuation('c', true)]);
  const report = await client.untilClosed();
  t.is(report.closeCode, 1002);
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
});

for (const [name, opcode] of [['text', Op.TEXT], ['binary', Op.BINARY]] as const) {
  for (const fin of [true, false]) {
    conformance(`new ${name} frame (FIN = ${fin ? 1 : 0}) inside a fragmented message closes with 1002`, async (t, port) => {
      const client = await RawClient.connect(port);
      await client.send(text('start', { fin: false }), frame({ opcode, payload: 'intruder', fin }), continuation('end', true));
      const report = await client.untilClosed();
      t.is(report.closeCode, 1002);
      t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE], 'no part of the message is echoed');
      t.true(report.closedByServer);
    });
  }
}

conformance('fragmented close (FIN = 0) closes with 1002', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(close(1000, 'bye', { fin: false }), continuation('', true));
  const report = await client.untilClosed();
  t.is(report.closeCode, 1002);
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
});

conformance('close between fragments ends the connection normally without echoing the partial message', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text('partial', { fin: false }), close(1000));
  const report = await client.untilClosed();
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
  t.is(report.closeCode, 1000);
  t.true(report.closedByServer);
});

conformance('text message of 1000 one-byte fragments in one write echoes whole', async (t, port) => {
  const client = await RawClient.connect(port);
  const message = Buffer.from('0123456789'.repeat(100));
  const cuts = Array.from({ length: message.length - 1 }, (_, i) => i + 1);
  await client.send(...fragments(Op.TEXT, message, cuts));
  const echoed = await client.nextFrame();
  t.is(echoed.opcode, Op.TEXT);
  t.true(echoed.payload.equals(message));
  client.destroy();
});

conformance('binary message of 100 one-byte fragments sent in separate writes echoes whole', async (t, port) => {
  const client = await RawClient.connect(port);
  const message = pattern(100, 77);
  const cuts = Array.from({ length: message.length - 1 }, (_, i) => i + 1);
  await client.sendParts(fragments(Op.BINARY, message, cuts));
  const echoed = await client.nextFrame();
  t.is(echoed.opcode, Op.BINARY);
  t.true(echoed.payload.equals(message));
  client.destroy();
});

conformance('a message after a fragmented one starts fresh (text then binary)', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text('te', { fin: false }), continuation('xt', true), binary('bin', { fin: false }), continuation('ary', true), text('plain'));
  const frames = await client.nextFrames(3);
  t.deepEqual(frames.map((f) => [f.opcode, f.payload.toString()]), [[Op.TEXT, 'text'], [Op.BINARY, 'binary'], [Op.TEXT, 'plain']]);
  client.destroy();
});
