/**
 * Conformance, Autobahn sections 3 (reserved bits) and 4 (reserved opcodes): RFC 6455 §5.2. With
 * no extension negotiated, a frame with an RSV bit or a reserved opcode fails the connection with
 * 1002; frames before it are still processed, frames after it are not.
 */
import test from 'ava';
import { RawClient, frame, text, ping, Op, RSV1, RSV2, RSV3, pattern } from '../helpers/raw-client.js';
import { conformanceSuite } from '../helpers/conformance-suite.js';

const conformance = conformanceSuite(test);

/** Every combination of RSV1-3 (Autobahn 3.1-3.7 use 1 through 7). */
const RSV_BITS = [1, 2, 3, 4, 5, 6, 7].map((n) => ({
  name: [(n & 4) !== 0 ? 'RSV1' : '', (n & 2) !== 0 ? 'RSV2' : '', (n & 1) !== 0 ? 'RSV3' : ''].filter(Boolean).join('+'),
  bits: ((n & 4) !== 0 ? RSV1 : 0) | ((n & 2) !== 0 ? RSV2 : 0) | ((n & 1) !== 0 ? RSV3 : 0),
}));

const CARRIERS = [
  { name: 'text', opcode: Op.TEXT, payload: 'Hello, world!' },
  { name: 'binary', opcode: Op.BINARY, payload: pattern(100) },
  { name: 'ping', opcode: Op.PING, payload: 'Hello, world!' },
  { name: 'close', opcode: Op.CLOSE, payload: Buffer.from([0x03, 0xe8]) },
];

for (const { name: rsvName, bits } of RSV_BITS) {
  for (const { name, opcode, payload } of CARRIERS) {
    conformance(`${name} frame with ${rsvName} set closes with 1002`, async (t, port) => {
      const client = await RawClient.connect(port);
      await client.send(frame({ opcode, payload, rsv: bits }));
      const report = await client.untilClosed();
      t.is(report.closeCode, 1002);
      t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
      t.true(report.closedByServer);
    });
  }

  conformance(`text frame with ${rsvName} after a valid echo closes with 1002, the echo still arrives, a later ping is ignored`, async (t, port) => {
    const client = await RawClient.connect(port);
    await client.send(text('valid'), text('reserved', { rsv: bits }), ping('after'));
    const report = await client.untilClosed();
    t.deepEqual(report.frames.map((f) => f.opcode), [Op.TEXT, Op.CLOSE]);
    t.is(report.frames[0].payload.toString(), 'valid');
    t.is(report.closeCode, 1002);
    t.true(report.closedByServer);
  });
}

conformance('continuation frame with RSV1 inside a fragmented message closes with 1002', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(frame({ opcode: Op.TEXT, payload: 'frag', fin: false }), frame({ opcode: Op.CONTINUATION, payload: 'ment', rsv: RSV1 }));
  const report = await client.untilClosed();
  t.is(report.closeCode, 1002);
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
});

conformance('frame with RSV2 sent byte by byte after a valid echo closes with 1002', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.sendChunked(Buffer.concat([text('valid'), text('reserved', { rsv: RSV2 })]), 1);
  const report = await client.untilClosed();
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.TEXT, Op.CLOSE]);
  t.is(report.closeCode, 1002);
});

const RESERVED_OPCODES = [3, 4, 5, 6, 7, 11, 12, 13, 14, 15];

for (const opcode of RESERVED_OPCODES) {
  conformance(`frame with reserved opcode ${opcode} closes with 1002`, async (t, port) => {
    const client = await RawClient.connect(port);
    await client.send(frame({ opcode }));
    const report = await client.untilClosed();
    t.is(report.closeCode, 1002);
    t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
    t.true(report.closedByServer);
  });

  conformance(`frame with reserved opcode ${opcode} and a payload after a valid echo closes with 1002, a later ping is ignored`, async (t, port) => {
    const client = await RawClient.connect(port);
    await client.send(text('valid'), frame({ opcode, payload: 'reserved opcode payload' }), ping('after'));
    const report = await client.untilClosed();
    t.deepEqual(report.frames.map((f) => f.opcode), [Op.TEXT, Op.CLOSE]);
    t.is(report.frames[0].payload.toString(), 'valid');
    t.is(report.closeCode, 1002);
    t.true(report.closedByServer);
  });
}
