/**
 * Conformance, Autobahn section 6 (UTF-8 handling): RFC 6455 §8.1. Text messages must be valid
 * UTF-8 (RFC 3629) however they are cut into fragments and TCP writes; invalid ones close with
 * 1007, and as early as the first invalid byte arrives (fail fast), not at the end of the message.
 */
import test, { type ExecutionContext } from 'ava';
import {
  RawClient, text, binary, continuation, fragments, Op, type ServerFrame,
} from '../helpers/raw-client.js';
import { conformanceSuite } from '../helpers/conformance-suite.js';

const conformance = conformanceSuite(test);

const hex = (s: string): Buffer => Buffer.from(s.replace(/ /g, ''), 'hex');

/** "κόσμε", the Autobahn 6.2 sample. */
const KOSME = hex('ce ba e1 bd b9 cf 83 ce bc ce b5');

const VALID: { name: string; bytes: Buffer }[] = [
  { name: 'κόσμε', bytes: KOSME },
  { name: '2-byte U+0080 and U+07FF', bytes: hex('c2 80 df bf') },
  { name: '3-byte U+0800, U+D7FF, U+E000 and U+FFFD', bytes: hex('e0 a0 80 ed 9f bf ee 80 80 ef bf bd') },
  { name: 'noncharacters U+FFFE and U+FFFF', bytes: hex('ef bf be ef bf bf') },
  { name: '4-byte U+10000 and U+10FFFF', bytes: hex('f0 90 80 80 f4 8f bf bf') },
  { name: '4-byte leads F0-F4 mid-range (U+1F600, U+40000, U+FFFFF, U+100000)', bytes: hex('f0 9f 98 80 f1 80 80 80 f3 bf bf bf f4 80 80 80') },
  { name: 'a byte-order mark', bytes: hex('ef bb bf 41') },
  { name: 'mixed ASCII and multibyte', bytes: Buffer.from('Hello-µ@ßöäüàá-UTF-8!! 🎉 中文', 'utf8') },
];

function assertText(t: ExecutionContext, frame: ServerFrame, bytes: Buffer): void {
  t.is(frame.opcode, Op.TEXT);
  t.true(frame.payload.equals(bytes), `expected ${bytes.toString('hex')}, got ${frame.payload.toString('hex')}`);
}

for (const { name, bytes } of VALID) {
  conformance(`valid UTF-8 text (${name}) echoes byte for byte`, async (t, port) => {
    const client = await RawClient.connect(port);
    await client.send(text(bytes));
    assertText(t, await client.nextFrame(), bytes);
    client.destroy();
  });
}

/** Every valid sample in one message: every kind of sequence gets cut at every position. */
const ALL_VALID = Buffer.concat(VALID.map((v) => v.bytes));

conformance('valid UTF-8 split into 2 fragments at every byte echoes whole', async (t, port) => {
  const client = await RawClient.connect(port);
  const frames = [];
  for (let cut = 1; cut < ALL_VALID.length; cut++) frames.push(...fragments(Op.TEXT, ALL_VALID, [cut]));
  await client.send(...frames);
  const echoed = await client.nextFrames(ALL_VALID.length - 1);
  for (const frame of echoed) assertText(t, frame, ALL_VALID);
  client.destroy();
});

conformance('valid UTF-8 in one-byte fragments echoes whole', async (t, port) => {
  const client = await RawClient.connect(port);
  const cuts = Array.from({ length: ALL_VALID.length - 1 }, (_, i) => i + 1);
  await client.send(...fragments(Op.TEXT, ALL_VALID, cuts));
  assertText(t, await client.nextFrame(), ALL_VALID);
  client.destroy();
});

conformance('valid UTF-8 in one frame split into 2 TCP writes at every payload byte echoes whole', async (t, port) => {
  const client = await RawClient.connect(port);
  const headerSize = 2 + 4; // short length, mask key
  for (let cut = 1; cut < ALL_VALID.length; cut++) {
    const bytes = text(ALL_VALID);
    await client.sendParts([bytes.subarray(0, headerSize + cut), bytes.subarray(headerSize + cut)]);
  }
  const echoed = await client.nextFrames(ALL_VALID.length - 1);
  for (const frame of echoed) assertText(t, frame, ALL_VALID);
  client.destroy();
});

conformance('valid UTF-8 sent one byte per TCP write echoes whole', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.sendChunked(text(ALL_VALID), 1);
  assertText(t, await client.nextFrame(), ALL_VALID);
  client.destroy();
});

conformance('invalid UTF-8 in a binary message is echoed (only text is validated)', async (t, port) => {
  const client = await RawClient.connect(port);
  const bytes = hex('c0 80 ed a0 80 ff fe');
  await client.send(binary(bytes));
  const echoed = await client.nextFrame();
  t.is(echoed.opcode, Op.BINARY);
  t.true(echoed.payload.equals(bytes));
  client.destroy();
});

const INVALID: { name: string; bytes: Buffer }[] = [
  { name: 'overlong 2-byte C0 80', bytes: hex('c0 80') },
  { name: 'overlong 2-byte C1 BF', bytes: hex('c1 bf') },
  { name: 'overlong 3-byte E0 80 80', bytes: hex('e0 80 80') },
  { name: 'overlong 3-byte E0 9F BF', bytes: hex('e0 9f bf') },
  { name: 'overlong 4-byte F0 80 80 80', bytes: hex('f0 80 80 80') },
  { name: 'overlong 4-byte F0 8F BF BF', bytes: hex('f0 8f bf bf') },
  { name: 'surrogate ED A0 80 (U+D800)', bytes: hex('ed a0 80') },
  { name: 'surrogate ED BF BF (U+DFFF)', bytes: hex('ed bf bf') },
  { name: 'surrogate pair ED A0 80 ED B0 80', bytes: hex('ed a0 80 ed b0 80') },
  { name: 'above U+10FFFF F4 90 80 80', bytes: hex('f4 90 80 80') },
  { name: 'lead byte F5', bytes: hex('f5 80 80 80') },
  { name: '5-byte sequence F8 88 80 80 80', bytes: hex('f8 88 80 80 80') },
  { name: 'lone continuation 80', bytes: hex('80') },
  { name: 'lone continuation BF', bytes: hex('bf') },
  { name: 'continuations 80 BF 80', bytes: hex('80 bf 80') },
  { name: 'FE', bytes: hex('fe') },
  { name: 'FF', bytes: hex('ff') },
  { name: 'FE FE FF FF', bytes: hex('fe fe ff ff') },
  { name: '2-byte lead followed by ASCII', bytes: hex('c2 41') },
  { name: '3-byte lead and one continuation followed by ASCII', bytes: hex('e1 80 41') },
];

/** Sequences that are valid prefixes but end the message: invalid only because the message ends. */
const TRUNCATED: { name: string; bytes: Buffer }[] = [
  { name: 'truncated 2-byte CE', bytes: Buffer.concat([KOSME, hex('ce')]) },
  { name: 'truncated 3-byte E1 BD', bytes: Buffer.concat([KOSME, hex('e1 bd')]) },
  { name: 'truncated 4-byte F0 90 80', bytes: Buffer.concat([KOSME, hex('f0 90 80')]) },
  { name: 'κόσμε without its last byte', bytes: KOSME.subarray(0, KOSME.length - 1) },
];

for (const { name, bytes } of INVALID) {
  const message = Buffer.concat([KOSME, bytes, Buffer.from('edited')]);

  conformance(`text frame with invalid UTF-8 (${name}) closes with 1007`, async (t, port) => {
    const client = await RawClient.connect(port);
    await client.send(text(message));
    const report = await client.untilClosed();
    t.is(report.closeCode, 1007);
    t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
    t.true(report.closedByServer);
  });

  conformance(`fragmented text with invalid UTF-8 (${name}) cut inside it closes with 1007`, async (t, port) => {
    const client = await RawClient.connect(port);
    const start = KOSME.length;
    const cuts = bytes.length > 1 ? [start, start + 1, start + bytes.length] : [start, start + 1];
    await client.send(...fragments(Op.TEXT, message, cuts));
    const report = await client.untilClosed();
    t.is(report.closeCode, 1007);
    t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
  });
}

for (const { name, bytes } of TRUNCATED) {
  conformance(`text message ending inside a character (${name}) closes with 1007`, async (t, port) => {
    const client = await RawClient.connect(port);
    await client.send(text(bytes));
    const report = await client.untilClosed();
    t.is(report.closeCode, 1007);
    t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
  });

  conformance(`fragmented text ending inside a character (${name}) in its last fragment closes with 1007`, async (t, port) => {
    const client = await RawClient.connect(port);
    await client.send(text(bytes, { fin: false }), continuation('', true));
    const report = await client.untilClosed();
    t.is(report.closeCode, 1007);
    t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
  });
}

/** Every `step`-th Unicode scalar value (no surrogates), from U+0000 to U+10FFFF, as UTF-8. */
function scalarSweep(step: number, offset: number): Buffer {
  const points: number[] = [];
  for (let cp = offset; cp <= 0x10ffff; cp += step) if (cp < 0xd800 || cp > 0xdfff) points.push(cp);
  points.push(0x10ffff);
  return Buffer.from(String.fromCodePoint(...points), 'utf8');
}

conformance('a sweep of scalar values over all of U+0000..U+10FFFF echoes byte for byte, whole and in 7-byte fragments', async (t, port) => {
  const client = await RawClient.connect(port);
  const whole = scalarSweep(97, 0);
  const fragmented = scalarSweep(389, 13);
  const cuts = Array.from({ length: Math.floor((fragmented.length - 1) / 7) }, (_, i) => (i + 1) * 7);
  await client.send(text(whole), ...fragments(Op.TEXT, fragmented, cuts));
  assertText(t, await client.nextFrame(), whole);
  assertText(t, await client.nextFrame(), fragmented);
  client.destroy();
});

/** Bytes that never start a character: continuations 80-BF, overlong leads C0-C1, and F5-FF. */
const NEVER_LEAD = Array.from({ length: 256 }, (_, b) => b).filter((b) => (b >= 0x80 && b <= 0xc1) || b >= 0xf5);

conformance('every byte that cannot start a character (80-C1, F5-FF) closes with 1007', async (t, port) => {
  const codes = await Promise.all(NEVER_LEAD.map(async (byte) => {
    const client = await RawClient.connect(port);
    await client.send(text(Buffer.from([0x41, byte, 0x80, 0x80, 0x80])));
    return (await client.untilClosed()).closeCode;
  }));
  t.deepEqual(codes, NEVER_LEAD.map(() => 1007));
});
