/**
 * Conformance, permessage-deflate (RFC 7692; Autobahn sections 12 and 13 in spirit) on raw
 * sockets against the echo server with `deflate: true` (no context takeover either way, the
 * defaults), in every mode and with both codecs: the negotiation as the client sees it in the
 * 101, compressed and fragmented compressed messages, the RSV1 rules, UTF-8 and size limits
 * on the inflated bytes, and messages inflated off the event loop keeping their order.
 */
import test, { type ExecutionContext } from 'ava';
import { RawClient, text, binary, ping, close, frame, continuation, pattern, Op, RSV1, type ServerFrame } from '../helpers/raw-client.js';
import { conformanceSuite } from '../helpers/conformance-suite.js';
import { compressedBinary, compressedFragments, compressedFrame, compressedText, deflate, inflate, zipBomb } from '../helpers/deflate.js';

const MAX_PAYLOAD = 16 * 1024 * 1024;
const conformance = conformanceSuite(test, { deflate: true, maxPayload: MAX_PAYLOAD });

const OFFER = 'permessage-deflate; client_max_window_bits';
const DEFAULT_RESPONSE = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';

/** A message's bytes, inflated when the server sent it compressed (RSV1). */
function messageBytes(frame: ServerFrame): Buffer {
  return (frame.rsv & RSV1) !== 0 ? inflate(frame.payload) : frame.payload;
}

function assertEcho(t: ExecutionContext, frame: ServerFrame, opcode: number, bytes: Buffer): void {
  t.is(frame.opcode, opcode);
  t.true(frame.fin);
  t.is((frame.rsv & RSV1) !== 0, bytes.length >= 1024, `compressed exactly from the 1024-byte threshold (${bytes.length} B)`);
  t.true(messageBytes(frame).equals(bytes), `${bytes.length} bytes`);
}

// --- negotiation as the client sees it --------------------------------------------------------

const NEGOTIATIONS: Array<[string, string, string | undefined]> = [
  ['a bare offer', 'permessage-deflate', DEFAULT_RESPONSE],
  ["Chrome's offer", OFFER, DEFAULT_RESPONSE],
  ['server_max_window_bits=10', 'permessage-deflate; server_max_window_bits=10', `${DEFAULT_RESPONSE}; server_max_window_bits=10`],
  ['client_max_window_bits=9', 'permessage-deflate; client_max_window_bits=9', `${DEFAULT_RESPONSE}; client_max_window_bits=9`],
  ['a quoted value', 'permessage-deflate; server_max_window_bits="12"', `${DEFAULT_RESPONSE}; server_max_window_bits=12`],
  ['a declined offer, then an accepted one', 'permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=11',
    `${DEFAULT_RESPONSE}; server_max_window_bits=11`],
  ['an unknown parameter (declined)', 'permessage-deflate; bogus', undefined],
  ['a duplicate parameter (declined)', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover', undefined],
  ['server_max_window_bits without a value (declined)', 'permessage-deflate; server_max_window_bits', undefined],
  ['client_max_window_bits=7 (declined)', 'permessage-deflate; client_max_window_bits=7', undefined],
  ['another extension only (ignored)', 'x-webkit-deflate-frame', undefined],
];

for (const [name, offer, response] of NEGOTIATIONS) {
  conformance(`negotiation: ${name} → ${response === undefined ? 'no extension in the 101' : JSON.stringify(response)}`, async (t, port) => {
    const client = await RawClient.connect(port, { extensions: offer });
    t.is(client.extensions, response);
    // The connection works either way; a declined one takes no compressed frame.
    await client.send(text('still open'));
    t.is((await client.nextFrame()).payload.toString(), 'still open');
    client.destroy();
  });
}

conformance('negotiation: a malformed Sec-WebSocket-Extensions is refused with 400', async (t, port) => {
  await t.throwsAsync(RawClient.connect(port, { extensions: 'permessage-deflate; server_max_window_bits="10' }), { message: /HTTP\/1\.1 400 Bad Request/ });
  await t.throwsAsync(RawClient.connect(port, { extensions: 'permessage-deflate;;' }), { message: /HTTP\/1\.1 400 / });
});

conformance('RSV1 without a negotiated permessage-deflate closes with 1002', async (t, port) => {
  for (const extensions of [undefined, 'permessage-deflate; bogus']) {
    const client = await RawClient.connect(port, { extensions });
    await client.send(compressedText('hello'));
    const report = await client.untilClosed();
    t.is(report.closeCode, 1002);
    t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
  }
});

// --- compressed messages ------------------------------------------------------------------------

const SIZES = [0, 1, 125, 1023, 1024, 5000, 65535, 65536, 128 * 1024];

conformance(`compressed text and binary of ${SIZES.join(', ')} bytes echo intact, compressed from 1024 bytes`, async (t, port) => {
  const client = await RawClient.connect(port, { extensions: OFFER });
  for (const size of SIZES) {
    const valid = Buffer.from('a'.repeat(size % 3) + '✓'.repeat(Math.floor(size / 3)), 'utf8'); // exactly `size` bytes
    const bytes = pattern(size, size + 1);
    await client.send(compressedText(valid), compressedBinary(bytes));
    const [echoedText, echoedBinary] = await client.nextFrames(2);
    assertEcho(t, echoedText, Op.TEXT, valid);
    assertEcho(t, echoedBinary, Op.BINARY, bytes);
  }
  client.destroy();
});

conformance('uncompressed messages on a compressed connection echo too (RSV1 is per message, §6)', async (t, port) => {
  const client = await RawClient.connect(port, { extensions: OFFER });
  const big = Buffer.alloc(4000, 0x78);
  await client.send(text('plain'), binary(big), compressedText('squeezed'));
  const frames = await client.nextFrames(3);
  assertEcho(t, frames[0], Op.TEXT, Buffer.from('plain'));
  assertEcho(t, frames[1], Op.BINARY, big);
  assertEcho(t, frames[2], Op.TEXT, Buffer.from('squeezed'));
  client.destroy();
});

conformance('a compressed message in 2 to 5 fragments, with a ping between, echoes whole', async (t, port) => {
  const client = await RawClient.connect(port, { extensions: OFFER });
  const message = Buffer.from('fragmented and compressed '.repeat(200));
  const compressed = deflate(message);
  for (let pieces = 2; pieces <= 5; pieces++) {
    const cuts = Array.from({ length: pieces - 1 }, (_, i) => Math.floor((compressed.length * (i + 1)) / pieces));
    const frames = compressedFragments(Op.TEXT, compressed, cuts);
    await client.send(frames[0], ping('between'), ...frames.slice(1));
    const [pong, echoed] = await client.nextFrames(2);
    t.is(pong.opcode, Op.PONG);
    assertEcho(t, echoed, Op.TEXT, message);
  }
  client.destroy();
});

conformance('a compressed message sent one byte per write echoes whole', async (t, port) => {
  const client = await RawClient.connect(port, { extensions: OFFER });
  const message = Buffer.from('byte by byte '.repeat(100));
  await client.sendChunked(Buffer.concat(compressedFragments(Op.BINARY, deflate(message), [5, 20])), 1);
  assertEcho(t, await client.nextFrame(), Op.BINARY, message);
  client.destroy();
});

conformance('without context takeover the same message is compressed to the same bytes every time', async (t, port) => {
  const client = await RawClient.connect(port, { extensions: OFFER });
  const message = Buffer.from('the same again '.repeat(300));
  await client.send(compressedText(message), compressedText(message), compressedText(message));
  const frames = await client.nextFrames(3);
  t.true(frames[1].payload.equals(frames[0].payload));
  t.true(frames[2].payload.equals(frames[0].payload));
  t.true(inflate(frames[2].payload).equals(message));
  client.destroy();
});

conformance('a large compressed message (inflated off the event loop) keeps its place: later frames and the ping wait for it', async (t, port) => {
  const client = await RawClient.connect(port, { extensions: OFFER });
  const big = pattern(1 << 20, 7).map((byte) => byte & 0x3f); // compressible, well over the sync budget
  await client.send(compressedBinary(big), text('after'), ping('ping after'), compressedText('compressed after'));
  const frames = await client.nextFrames(4);
  t.deepEqual(frames.map((f) => f.opcode), [Op.BINARY, Op.TEXT, Op.PONG, Op.TEXT]);
  t.true(messageBytes(frames[0]).equals(big));
  t.is(messageBytes(frames[1]).toString(), 'after');
  t.is(frames[2].payload.toString(), 'ping after');
  t.is(messageBytes(frames[3]).toString(), 'compressed after');
  await client.send(close(1000));
  t.is((await client.untilClosed()).closeCode, 1000);
});

// --- failures -------------------------------------------------------------------------------

for (const [name, build] of [
  ['ping', () => frame({ opcode: Op.PING, payload: 'x', rsv: RSV1 })],
  ['pong', () => frame({ opcode: Op.PONG, payload: 'x', rsv: RSV1 })],
  ['close', () => frame({ opcode: Op.CLOSE, payload: Buffer.from([0x03, 0xe8]), rsv: RSV1 })],
] as const) {
  conformance(`RSV1 on a ${name} frame closes with 1002 (§6.1)`, async (t, port) => {
    const client = await RawClient.connect(port, { extensions: OFFER });
    await client.send(compressedText('valid'), build());
    const report = await client.untilClosed();
    t.deepEqual(report.frames.map((f) => f.opcode), [Op.TEXT, Op.CLOSE], 'the message before it still echoes');
    t.is(report.closeCode, 1002);
    t.true(report.closedByServer);
  });
}

conformance('RSV1 on a continuation frame closes with 1002, compressed message or not (§6.1)', async (t, port) => {
  for (const first of [frame({ opcode: Op.TEXT, payload: 'abc', fin: false }), compressedFrame(Op.TEXT, deflate('abcdef').subarray(0, 2), { fin: false })]) {
    const client = await RawClient.connect(port, { extensions: OFFER });
    await client.send(first, continuation(deflate('abcdef').subarray(2), true, { rsv: RSV1 }));
    const report = await client.untilClosed();
    t.is(report.closeCode, 1002);
    t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
  }
});

conformance('compressed invalid UTF-8 closes with 1007 (checked on the inflated bytes)', async (t, port) => {
  for (const bad of [Buffer.from([0x61, 0xc0, 0xaf]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('truncated \xe2\x82', 'latin1')]) {
    const client = await RawClient.connect(port, { extensions: OFFER });
    await client.send(compressedText(bad));
    const report = await client.untilClosed();
    t.is(report.closeCode, 1007, bad.toString('hex'));
    t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE]);
  }
});

conformance('large compressed invalid UTF-8 (inflated off the event loop) closes with 1007', async (t, port) => {
  const client = await RawClient.connect(port, { extensions: OFFER });
  const bad = Buffer.alloc(2 << 20, 0x61);
  bad[100] = 0xff;
  await client.send(compressedText(bad));
  const report = await client.untilClosed();
  t.is(report.closeCode, 1007);
});

conformance('corrupt DEFLATE data closes with 1007', async (t, port) => {
  const client = await RawClient.connect(port, { extensions: OFFER });
  await client.send(compressedFrame(Op.BINARY, Buffer.from([0xfe, 0xed, 0xfa, 0xce])));
  const report = await client.untilClosed();
  t.is(report.closeCode, 1007);
});

conformance.serial('a zip bomb (1 GiB of zeros in about 1 MiB) closes with 1009 once 16 MiB are inflated', async (t, port) => {
  const client = await RawClient.connect(port, { extensions: OFFER });
  await client.send(compressedFrame(Op.BINARY, zipBomb(1024)));
  const report = await client.untilClosed();
  t.is(report.closeCode, 1009);
  t.deepEqual(report.frames.map((f) => f.opcode), [Op.CLOSE], 'nothing is echoed');
});

conformance('a compressed message inflating to exactly maxPayload is accepted', async (t, port) => {
  const client = await RawClient.connect(port, { extensions: OFFER });
  await client.send(compressedFrame(Op.BINARY, zipBomb(MAX_PAYLOAD >> 20)));
  const echoed = await client.nextFrame();
  t.is(messageBytes(echoed).length, MAX_PAYLOAD);
  client.destroy();
});
