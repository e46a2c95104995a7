/**
 * Conformance, Autobahn section 7 (close handling) plus masking: RFC 6455 §5.5.1, §7.1, §7.4.
 * A close frame is answered with a close frame echoing the code, after which the server closes
 * TCP first and reads nothing more; invalid close payloads fail the connection.
 */
import test from 'ava';
import { RawClient, close, text, binary, ping, frame, Op } from '../helpers/raw-client.js';
import { conformanceSuite } from '../helpers/conformance-suite.js';

/** The server's close timeout: the server must close TCP well before it, not because of it. */
const CLOSE_TIMEOUT_MS = 1000;

const conformance = conformanceSuite(test, { closeTimeoutMs: CLOSE_TIMEOUT_MS });

conformance('close without payload gets a close without payload, then the server closes TCP', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(close());
  const report = await client.untilClosed();
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
  t.is(report.closeFrame?.payload.length, 0, 'RFC 6455 §5.5.1: no code is echoed when none was sent');
  t.true(report.closeFrame?.fin);
  t.false(report.closeFrame?.masked);
  t.true(report.closedByServer);
});

conformance('close 1000 with a reason gets a close 1000, then the server closes TCP before its close timeout', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(close(1000, 'Hello World!'));
  const report = await client.untilClosed(CLOSE_TIMEOUT_MS / 2);
  t.false(report.timedOut, 'the server ends TCP right after its close frame');
  t.true(report.closedByServer);
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
  t.is(report.closeCode, 1000);
  t.true(report.closeFrame!.payload.length <= 125);
});

conformance('close with a 123-byte reason (125-byte payload) gets a close 1000', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(close(1000, '*'.repeat(123)));
  const report = await client.untilClosed();
  t.is(report.closeCode, 1000);
  t.true(report.closedByServer);
});

conformance('close with a multibyte UTF-8 reason gets a close echoing the code', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(close(1000, 'κόσμε 🎉'));
  const report = await client.untilClosed();
  t.is(report.closeCode, 1000);
});

conformance('close sent byte by byte gets a close echoing the code', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.sendChunked(close(1001, 'going'), 1);
  const report = await client.untilClosed();
  t.is(report.closeCode, 1001);
  t.true(report.closedByServer);
});

const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
for (const code of VALID_CODES) {
  conformance(`close with valid code ${code} gets a close echoing ${code}`, async (t, port) => {
    const client = await RawClient.connect(port);
    await client.send(close(code));
    const report = await client.untilClosed();
    t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
    t.is(report.closeCode, code);
    t.true(report.closedByServer);
  });
}

const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
for (const code of INVALID_CODES) {
  conformance(`close with invalid code ${code} closes with 1002`, async (t, port) => {
    const client = await RawClient.connect(port);
    await client.send(close(code));
    const report = await client.untilClosed();
    t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
    t.is(report.closeCode, 1002);
    t.true(report.closedByServer);
  });
}

conformance('close with a 1-byte payload closes with 1002', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(frame({ opcode: Op.CLOSE, payload: Buffer.from([0x03]) }));
  const report = await client.untilClosed();
  t.is(report.closeCode, 1002);
  t.true(report.closedByServer);
});

conformance('close with a reason that is invalid UTF-8 closes with 1007', async (t, port) => {
  const client = await RawClient.connect(port);
  // Autobahn 7.5.1: κόσμε followed by ED A0 80 (a surrogate) and "edited".
  const reason = Buffer.from('cebae1bdb9cf83cebcceb5eda080656469746564', 'hex');
  await client.send(close(1000, reason));
  const report = await client.untilClosed();
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
  t.is(report.closeCode, 1007);
  t.true(report.closedByServer);
});

conformance('close with a reason ending inside a character closes with 1007', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(close(1000, Buffer.from('ceba', 'hex').subarray(0, 1)));
  const report = await client.untilClosed();
  t.is(report.closeCode, 1007);
});

conformance('close with a 126-byte payload closes with 1002', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(close(1000, '*'.repeat(124)));
  const report = await client.untilClosed();
  t.is(report.closeCode, 1002);
  t.true(report.closedByServer);
});

conformance('data frames after a close frame are ignored (no echo)', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(close(1000), text('after close'), binary('after close'));
  const report = await client.untilClosed();
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
  t.is(report.closeCode, 1000);
});

conformance('a ping after a close frame gets no pong', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(close(1000), ping('after close'));
  const report = await client.untilClosed();
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
});

conformance('a second close frame gets no second reply', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(close(1000), close(1001));
  const report = await client.untilClosed();
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
  t.is(report.closeCode, 1000);
});

conformance('data frames sent in a later write after the close reply are ignored', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(close(1000));
  t.is((await client.nextFrame()).opcode, Op.CLOSE);
  await client.send(text('too late'));
  const report = await client.untilClosed();
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
  t.true(report.closedByServer);
});

conformance('a message before the close frame is echoed before the close reply', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text('last words'), close(1000));
  const report = await client.untilClosed();
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.TEXT, Op.CLOSE]);
  t.is(report.frames[0].payload.toString(), 'last words');
  t.is(report.closeCode, 1000);
});

for (const [name, opcode, payload] of [['text', Op.TEXT, 'unmasked'], ['ping', Op.PING, 'unmasked'], ['close', Op.CLOSE, Buffer.from([0x03, 0xe8])]] as const) {
  conformance(`unmasked client ${name} frame closes with 1002`, async (t, port) => {
    const client = await RawClient.connect(port);
    await client.send(frame({ opcode, payload, masked: false }));
    const report = await client.untilClosed();
    t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
    t.is(report.closeCode, 1002);
    t.true(report.closedByServer);
  });
}

conformance('unmasked client frame after a valid one closes with 1002 after the echo', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text('masked'), frame({ opcode: Op.TEXT, payload: 'unmasked', masked: false }));
  const report = await client.untilClosed();
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.TEXT, Op.CLOSE]);
  t.is(report.closeCode, 1002);
});
