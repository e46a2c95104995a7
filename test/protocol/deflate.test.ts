/**
 * permessage-deflate in the sans-I/O protocol (RFC 7692 §6, §7.2), no sockets: a client and a
 * server endpoint with mirrored negotiated parameters, fed byte by byte, with both codecs.
 * Messages inflated on the thread pool are awaited; what the machine does meanwhile (pause,
 * keep later frames, deliver in order) is asserted on its sink.
 */
import test from 'ava';
import { isUtf8 } from 'node:buffer';
import { constants, deflateRawSync } from 'node:zlib';
import { createCodec } from '../../src/codec/select.js';
import { WebSocketProtocol, ReadyState, type Role } from '../../src/protocol/protocol.js';
import type { CompressorSettings, NegotiatedDeflate } from '../../src/protocol/compression.js';
import { SYNC_INFLATE_BYTES } from '../../src/protocol/message-inflater.js';
import { CODEC_KINDS } from '../helpers/codecs.js';
import { deflate, inflate, zipBomb } from '../helpers/deflate.js';
import { RSV1 } from '../helpers/raw-client.js';

type Kind = (typeof CODEC_KINDS)[number];

const COMPRESSOR: CompressorSettings = { threshold: 16, maxCompressBytes: 1 << 20, level: 6, memLevel: 8 };
const NO_TAKEOVER: NegotiatedDeflate = {
  send: { windowBits: 15, noContextTakeover: true }, receive: { windowBits: 15, noContextTakeover: true },
};
const TAKEOVER: NegotiatedDeflate = {
  send: { windowBits: 15, noContextTakeover: false }, receive: { windowBits: 15, noContextTakeover: false },
};
const mirror = (n: NegotiatedDeflate): NegotiatedDeflate => ({ send: n.receive, receive: n.send });

interface EndpointOptions {
  maxPayload?: number;
  negotiated?: NegotiatedDeflate | null;
  compressor?: CompressorSettings;
}

function endpoint(kind: Kind, role: Role, options: EndpointOptions = {}) {
  const out = { messages: [] as Array<{ data: Buffer; isBinary: boolean }>, bytes: [] as Buffer[], transportClosed: 0, inflated: 0, resumes: 0 };
  const negotiated = options.negotiated === undefined ? NO_TAKEOVER : options.negotiated;
  const machine = new WebSocketProtocol(createCodec(kind), {
    message: (data, isBinary) => out.messages.push({ data: Buffer.from(data), isBinary }),
    write: (first, second) => { out.bytes.push(Buffer.from(first)); if (second) out.bytes.push(Buffer.from(second)); },
    closeTransport: () => { out.transportClosed++; },
    // As a transport does: go on once the message processing stopped at is delivered, and
    // count the times it caught up (a transport would read again then).
    inflated: () => {
      out.inflated++;
      if (machine.proceed()) out.resumes++;
    },
  }, {
    role, maxPayload: options.maxPayload ?? 16 << 20,
    deflate: negotiated === null ? undefined : { negotiated, compressor: options.compressor ?? COMPRESSOR },
  });
  const drain = () => { const all = Buffer.concat(out.bytes); out.bytes = []; return all; };
  return { machine, out, drain };
}

/** Client and server with mirrored parameters (what one sends, the other receives). */
function pair(kind: Kind, negotiated: NegotiatedDeflate = NO_TAKEOVER, options: EndpointOptions = {}) {
  return { client: endpoint(kind, 'client', { ...options, negotiated: mirror(negotiated) }), server: endpoint(kind, 'server', { ...options, negotiated }) };
}

function pipe(from: ReturnType<typeof endpoint>, to: ReturnType<typeof endpoint>, step = Infinity): void {
  const bytes = from.drain();
  for (let i = 0; i < bytes.length; i += step) to.machine.receive(bytes.subarray(i, Math.min(bytes.length, i + step)));
}

/** A masked client frame with mask key 0 (the payload goes as is); byte0 holds FIN, RSV and opcode. */
function clientFrame(byte0: number, payload: Uint8Array): Buffer {
  const length = payload.length;
  const header = length < 126 ? Buffer.from([byte0, 0x80 | length])
    : length < 65536 ? Buffer.from([byte0, 0x80 | 126, length >> 8, length & 0xff])
      : Buffer.concat([Buffer.from([byte0, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(length)); return b; })()]);
  return Buffer.concat([header, Buffer.alloc(4), payload]);
}

/** The frames in `bytes` (either side's): [byte0, unmasked payload]. */
function parseFrames(bytes: Buffer): Array<{ byte0: number; payload: Buffer }> {
  const frames = [];
  let at = 0;
  while (at < bytes.length) {
    const masked = (bytes[at + 1] & 0x80) !== 0;
    const length7 = bytes[at + 1] & 0x7f;
    const keyAt = at + 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0);
    const offset = keyAt + (masked ? 4 : 0);
    const length = length7 < 126 ? length7 : length7 === 126 ? bytes.readUInt16BE(at + 2) : Number(bytes.readBigUInt64BE(at + 2));
    const payload = Buffer.from(bytes.subarray(offset, offset + length));
    if (masked) for (let i = 0; i < length; i++) payload[i] ^= bytes[keyAt + (i & 3)];
    frames.push({ byte0: bytes[at], payload });
    at = offset + length;
  }
  return frames;
}

/** Waits for `condition` across event-loop turns (the thread pool's answers); fails after a generous bound. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Text that compresses well but not to nothing (for the window tests). */
function sampleText(length: number, seed = 0): string {
  let text = '';
  for (let i = seed; text.length < length; i++) text += `{"id":${i},"topic":"news.${i % 7}","score":${(i * 37) % 101}}`;
  return text.slice(0, length);
}

for (const kind of CODEC_KINDS) {
  test(`[${kind}] compressed text and binary go both ways, fed byte by byte, RSV1 set only at and above the threshold`, (t) => {
    const { client, server } = pair(kind);
    const messages = ['short', sampleText(3000), 'é✓𝄞'.repeat(100)];
    for (const message of messages) client.machine.send(message);
    client.machine.send(Buffer.alloc(70_000, 7));
    const sent = client.drain();
    t.deepEqual(parseFrames(sent).map((f) => (f.byte0 & RSV1) !== 0), [false, true, true, true], 'the client compresses too');
    for (let i = 0; i < sent.length; i++) server.machine.receive(sent.subarray(i, i + 1));
    t.deepEqual(server.out.messages.map((m) => m.isBinary ? `binary ${m.data.length}` : m.data.toString()), [...messages, 'binary 70000']);
    for (const message of server.out.messages) server.machine.send(message.data, message.isBinary);
    const bytes = server.drain();
    const frames = parseFrames(bytes);
    t.deepEqual(frames.map((f) => (f.byte0 & RSV1) !== 0), [false, true, true, true], 'the 5-byte message is under the threshold');
    t.is(inflate(frames[1].payload).toString(), messages[1], 'the payload is raw DEFLATE without its 4-byte tail');
    for (let i = 0; i < bytes.length; i++) client.machine.receive(bytes.subarray(i, i + 1));
    t.deepEqual(client.out.messages.map((m) => m.isBinary ? `binary ${m.data.length}` : m.data.toString()), [...messages, 'binary 70000']);
    t.is(server.out.inflated, 0, 'nothing this small waits for the thread pool');
    t.false(server.machine.isStopped);
  });

  test(`[${kind}] a compressed message fragmented at every byte is inflated whole; only its first frame has RSV1`, (t) => {
    const message = Buffer.from(sampleText(200));
    const compressed = deflate(message);
    const { server } = pair(kind);
    for (let cut = 1; cut < compressed.length; cut++) {
      server.machine.receive(Buffer.concat([
        clientFrame(0x01 | RSV1, compressed.subarray(0, cut)),
        clientFrame(0x80, compressed.subarray(cut)),
      ]));
    }
    server.machine.receive(Buffer.concat([...compressed].map((byte, i) =>
      clientFrame((i === compressed.length - 1 ? 0x80 : 0) | (i === 0 ? 0x01 | RSV1 : 0), Buffer.from([byte])))));
    t.is(server.out.messages.length, compressed.length);
    t.true(server.out.messages.every((m) => m.data.equals(message) && !m.isBinary));
    t.is(server.machine.error, undefined);
  });

  test(`[${kind}] an empty compressed message (payload 0x00 or nothing) is an empty message`, (t) => {
    const { server } = pair(kind);
    server.machine.receive(Buffer.concat([clientFrame(0x81 | RSV1, Buffer.from([0x00])), clientFrame(0x82 | RSV1, Buffer.alloc(0))]));
    t.deepEqual(server.out.messages.map((m) => [m.data.length, m.isBinary]), [[0, false], [0, true]]);
    const zero = endpoint(kind, 'server', { compressor: { ...COMPRESSOR, threshold: 0 } });
    zero.machine.send('');
    t.deepEqual([...zero.drain()], [0xc1, 0x01, 0x00], 'RFC 7692 §7.2.3.6: an empty message compresses to one 0x00 byte');
  });

  test(`[${kind}] with context takeover each side keeps the other's window: repeated messages shrink, both ways`, (t) => {
    const { client } = pair(kind, TAKEOVER);
    const message = sampleText(2000);
    for (let i = 0; i < 3; i++) client.machine.send(message);
    const sizes = parseFrames(client.drain()).map((f) => f.payload.length);
    t.true(sizes[1] < sizes[0] / 4, `second copy ${sizes[1]} B, first ${sizes[0]} B`);
    // The same frames again, through the server this time.
    const fresh = pair(kind, TAKEOVER);
    for (let i = 0; i < 3; i++) fresh.client.machine.send(message);
    pipe(fresh.client, fresh.server, 7);
    t.deepEqual(fresh.server.out.messages.map((m) => m.data.toString()), [message, message, message]);
    for (let i = 0; i < 3; i++) fresh.server.machine.send(message);
    const bytes = fresh.server.drain();
    const frames = parseFrames(bytes);
    t.true(frames[2].payload.length < frames[0].payload.length / 4);
    fresh.client.machine.receive(bytes);
    t.deepEqual(fresh.client.out.messages.map((m) => m.data.toString()), [message, message, message]);
    t.is(fresh.server.machine.compressionWindowBytes, 2 * 6000, 'two windows of the 6000 bytes sent so far');
  });

  test(`[${kind}] the context-takeover window is at most 2^windowBits bytes each way`, (t) => {
    const small: NegotiatedDeflate = { send: { windowBits: 9, noContextTakeover: false }, receive: { windowBits: 10, noContextTakeover: false } };
    const { client, server } = pair(kind, small);
    for (let i = 0; i < 4; i++) client.machine.send(sampleText(3000, i));
    pipe(client, server, 100);
    for (let i = 0; i < 4; i++) server.machine.send(sampleText(3000, i));
    pipe(server, client, 100);
    t.deepEqual(client.out.messages.map((m) => m.data.toString()), [0, 1, 2, 3].map((i) => sampleText(3000, i)));
    t.is(server.machine.compressionWindowBytes, 512 + 1024);
  });

  test(`[${kind}] without context takeover nothing is kept between messages`, (t) => {
    const { client, server } = pair(kind, NO_TAKEOVER);
    for (let i = 0; i < 3; i++) client.machine.send(sampleText(5000, i));
    pipe(client, server);
    for (const m of server.out.messages) server.machine.send(m.data, false);
    t.is(server.out.messages.length, 3);
    t.is(server.machine.compressionWindowBytes, 0);
    t.is(client.machine.compressionWindowBytes, 0);
  });

  test(`[${kind}] RSV1 on a control frame or a continuation closes with 1002 (RFC 7692 §6.1)`, (t) => {
    for (const frames of [
      [clientFrame(0x89 | RSV1, Buffer.from('ping'))],
      [clientFrame(0x88 | RSV1, Buffer.from([0x03, 0xe8]))],
      [clientFrame(0x8a | RSV1, Buffer.alloc(0))],
      [clientFrame(0x01, Buffer.from('frag')), clientFrame(0x80 | RSV1, Buffer.from('ment'))],
      [clientFrame(0x01 | RSV1, deflate('fragment').subarray(0, 3)), clientFrame(0x80 | RSV1, deflate('fragment').subarray(3))],
    ]) {
      const { server } = pair(kind);
      server.machine.receive(Buffer.concat(frames));
      t.is(server.machine.error?.code, 'WS_ERR_UNEXPECTED_RSV_1');
      t.is(server.machine.closeCode, 1002);
      t.is(server.out.messages.length, 0);
    }
  });

  test(`[${kind}] RSV1 without negotiated permessage-deflate closes with 1002`, (t) => {
    const server = endpoint(kind, 'server', { negotiated: null });
    server.machine.receive(clientFrame(0x81 | RSV1, deflate('hello')));
    t.is(server.machine.error?.code, 'WS_ERR_UNEXPECTED_RSV');
    t.is(server.machine.closeCode, 1002);
  });

  test(`[${kind}] RSV2 and RSV3 still close with 1002 when permessage-deflate is negotiated`, (t) => {
    for (const rsv of [0x20, 0x10]) {
      const { server } = pair(kind);
      server.machine.receive(clientFrame(0x81 | RSV1 | rsv, deflate('hello')));
      t.is(server.machine.closeCode, 1002);
    }
  });

  test(`[${kind}] compressed invalid UTF-8 closes with 1007, checked on the inflated bytes`, (t) => {
    for (const bytes of [Buffer.from([0x61, 0xff, 0x62]), Buffer.from([0x61, 0xe2, 0x82]), Buffer.from('ok\xed\xa0\x80', 'latin1')]) {
      const { server } = pair(kind);
      server.machine.receive(clientFrame(0x81 | RSV1, deflate(bytes)));
      t.is(server.machine.error?.code, 'WS_ERR_INVALID_UTF8', bytes.toString('hex'));
      t.is(server.machine.closeCode, 1007);
      t.is(server.out.messages.length, 0);
    }
    const { server } = pair(kind);
    server.machine.receive(clientFrame(0x82 | RSV1, deflate(Buffer.from([0xff, 0xfe]))));
    t.deepEqual([...server.out.messages[0].data], [0xff, 0xfe], 'binary is not UTF-8 checked');
  });

  test(`[${kind}] valid compressed UTF-8 whose compressed bytes are not UTF-8 is delivered (the codec does not check them)`, (t) => {
    for (const validator of ['native', 'codec'] as const) {
      const text = 'κόσμε '.repeat(50);
      const compressed = deflate(text);
      t.false(isUtf8(compressed), 'the compressed bytes alone would fail a UTF-8 check');
      const server = new WebSocketProtocol(createCodec(kind), {
        message: (data) => t.is(data.toString(), text), write: () => {}, closeTransport: () => t.fail('closed'),
      }, { role: 'server', maxPayload: 1 << 20, utf8Validator: validator, deflate: { negotiated: NO_TAKEOVER, compressor: COMPRESSOR } });
      server.receive(clientFrame(0x81 | RSV1, compressed));
      t.is(server.error, undefined);
    }
  });

  test(`[${kind}] corrupt DEFLATE data closes with 1007`, (t) => {
    const { server } = pair(kind);
    server.machine.receive(clientFrame(0x82 | RSV1, Buffer.from([0xff, 0xff, 0xff, 0xff])));
    t.is(server.machine.error?.code, 'WS_ERR_INVALID_COMPRESSED_DATA');
    t.is(server.machine.closeCode, 1007);
  });

  test(`[${kind}] maxPayload bounds the inflated size: exactly the limit passes, one more byte closes with 1009`, (t) => {
    const limit = 10_000;
    const at = pair(kind, NO_TAKEOVER, { maxPayload: limit });
    at.server.machine.receive(clientFrame(0x82 | RSV1, deflate(Buffer.alloc(limit))));
    t.is(at.server.out.messages[0]?.data.length, limit);
    const over = pair(kind, NO_TAKEOVER, { maxPayload: limit });
    over.server.machine.receive(clientFrame(0x82 | RSV1, deflate(Buffer.alloc(limit + 1))));
    t.is(over.server.machine.error?.code, 'WS_ERR_MESSAGE_TOO_BIG');
    t.is(over.server.machine.closeCode, 1009);
  });

  test(`[${kind}] a zip bomb (1 GiB of zeros in about 1 MiB) closes with 1009 once the inflated size passes maxPayload`, async (t) => {
    const bomb = zipBomb(1024);
    t.true(bomb.length < 2 << 20);
    const { server } = pair(kind, NO_TAKEOVER, { maxPayload: 4 << 20 });
    const before = process.memoryUsage().rss;
    server.machine.receive(clientFrame(0x82 | RSV1, bomb));
    t.true(server.machine.isInflating, 'over the sync budget: inflated on the thread pool, processing stopped');
    await until(() => server.machine.error !== undefined, 'the 1009');
    t.is(server.machine.error?.code, 'WS_ERR_MESSAGE_TOO_BIG');
    t.is(server.machine.closeCode, 1009);
    t.is(server.out.messages.length, 0);
    // Inflating it all would take 1 GiB; stopping at the limit takes a few MiB.
    t.true(process.memoryUsage().rss - before < 256 << 20, `RSS grew ${(process.memoryUsage().rss - before) >> 20} MiB`);
  });

  test(`[${kind}] a message larger than the sync budget is inflated on the thread pool; what follows waits, in order`, async (t) => {
    const { server } = pair(kind);
    const big = Buffer.from(sampleText(SYNC_INFLATE_BYTES * 2));
    server.machine.receive(Buffer.concat([
      clientFrame(0x81 | RSV1, deflate(big)),
      clientFrame(0x81, Buffer.from('plain after')),
      clientFrame(0x89, Buffer.from('ping after')),
      clientFrame(0x81 | RSV1, deflate('compressed after '.repeat(10))),
      clientFrame(0x88, Buffer.from([0x03, 0xe8])),
    ]));
    t.true(server.machine.isInflating);
    t.is(server.out.messages.length, 0, 'nothing overtakes the message being inflated');
    t.is(server.drain().length, 0, 'not even the pong');
    // Bytes that arrive before the transport has paused are kept for later, in order.
    server.machine.receive(clientFrame(0x82, Buffer.from('late')));
    t.is(server.machine.readyState, ReadyState.OPEN, 'the close frame waits too');
    await until(() => server.out.transportClosed === 1, 'the close');
    t.deepEqual(server.out.messages.map((m) => m.data.length === big.length ? 'big' : m.data.toString()),
      ['big', 'plain after', 'compressed after '.repeat(10)], 'what came after the close frame is not read');
    t.true(server.out.messages[0].data.equals(big));
    t.deepEqual(parseFrames(server.drain()).map((f) => [f.byte0 & 0x0f, f.payload.length]), [[0x0a, 10], [0x08, 2]],
      'the pong and the close reply, once their turn came');
    t.is(server.machine.closeCode, 1000);
  });

  test(`[${kind}] bytes received while a message is inflated are read in order once it is delivered`, async (t) => {
    const { server } = pair(kind);
    const big = Buffer.alloc(SYNC_INFLATE_BYTES * 2, 0x62);
    const bytes = Buffer.concat([clientFrame(0x82 | RSV1, deflate(big)), clientFrame(0x81, Buffer.from('one')), clientFrame(0x81 | RSV1, deflate('two'))]);
    const cut = bytes.length - 5; // the last frame arrives in two reads, both during the inflation
    server.machine.receive(bytes.subarray(0, cut - 10));
    server.machine.receive(bytes.subarray(cut - 10, cut));
    server.machine.receive(bytes.subarray(cut));
    await until(() => server.out.resumes === 1, 'caught up');
    t.deepEqual(server.out.messages.map((m) => m.data.length === big.length ? 'big' : m.data.toString()), ['big', 'one', 'two']);
    t.is(server.out.inflated, 1);
  });

  test(`[${kind}] two large compressed messages in one read are inflated one after the other`, async (t) => {
    const { server } = pair(kind);
    const first = Buffer.alloc(SYNC_INFLATE_BYTES + 1, 0x31);
    const second = Buffer.alloc(SYNC_INFLATE_BYTES + 2, 0x32);
    server.machine.receive(Buffer.concat([clientFrame(0x82 | RSV1, deflate(first)), clientFrame(0x82 | RSV1, deflate(second)), clientFrame(0x82, Buffer.from('x'))]));
    await until(() => server.out.resumes === 1, 'caught up');
    t.deepEqual(server.out.messages.map((m) => m.data.length), [first.length, second.length, 1]);
    // Processing stays stopped from the first inflate until the read is done: it goes on after
    // the first and stops at the second, then catches up once.
    t.is(server.out.inflated, 2);
  });

  test(`[${kind}] large compressed invalid UTF-8 fails fast on the thread pool with 1007`, async (t) => {
    const { server } = pair(kind);
    const bad = Buffer.alloc(8 << 20, 0x61);
    bad[1000] = 0xff;
    server.machine.receive(clientFrame(0x81 | RSV1, deflate(bad)));
    await until(() => server.machine.error !== undefined, 'the 1007');
    t.is(server.machine.error?.code, 'WS_ERR_INVALID_UTF8');
    t.is(server.machine.closeCode, 1007);
  });

  test(`[${kind}] with context takeover, a large message inflated on the thread pool still feeds the window`, async (t) => {
    const { client, server } = pair(kind, TAKEOVER);
    const big = sampleText(SYNC_INFLATE_BYTES + 1000);
    client.machine.send(big);
    client.machine.send(big.slice(-5000));
    pipe(client, server);
    await until(() => server.out.messages.length === 2, 'both messages');
    t.is(server.out.messages[0].data.toString(), big);
    t.is(server.out.messages[1].data.toString(), big.slice(-5000));
  });

  test(`[${kind}] a TCP end while a message is being inflated delivers nothing more`, async (t) => {
    const { server } = pair(kind);
    server.machine.receive(Buffer.concat([clientFrame(0x82 | RSV1, deflate(Buffer.alloc(SYNC_INFLATE_BYTES * 2))), clientFrame(0x82, Buffer.from('after'))]));
    server.machine.receiveEnd();
    await new Promise((resolve) => setTimeout(resolve, 200));
    t.is(server.out.messages.length, 0);
    t.is(server.machine.closeCode, 1006);
    t.is(server.out.resumes, 0);
    t.is(server.out.inflated, 0, 'the late inflate is dropped');
  });

  test(`[${kind}] a message ending the DEFLATE stream (a final block) is accepted, on and off the event loop`, async (t) => {
    for (const size of [100, SYNC_INFLATE_BYTES * 2]) {
      const { server } = pair(kind);
      const message = Buffer.alloc(size, 0x41);
      server.machine.receive(clientFrame(0x82 | RSV1, deflateRawSync(message, { finishFlush: constants.Z_FINISH })));
      await until(() => server.out.messages.length === 1 || server.machine.error !== undefined, 'the message');
      t.true(server.out.messages[0]?.data.equals(message), `${size} bytes`);
    }
  });

  test(`[${kind}] outgoing messages under the threshold or over maxCompressBytes go uncompressed`, (t) => {
    const server = endpoint(kind, 'server', { compressor: { threshold: 100, maxCompressBytes: 1000, level: 6, memLevel: 8 } });
    for (const size of [99, 100, 1000, 1001]) server.machine.send(Buffer.alloc(size, 0x61));
    const frames = parseFrames(server.drain());
    t.deepEqual(frames.map((f) => (f.byte0 & RSV1) !== 0), [false, true, true, false]);
    t.true(inflate(frames[1].payload).equals(Buffer.alloc(100, 0x61)));
  });

  test(`[${kind}] a server window of 2^8 (server_max_window_bits=8) is respected by the compressor`, (t) => {
    const small: NegotiatedDeflate = { send: { windowBits: 8, noContextTakeover: false }, receive: { windowBits: 8, noContextTakeover: false } };
    const { client, server } = pair(kind, small);
    const message = sampleText(5000);
    server.machine.send(message);
    server.machine.send(message);
    pipe(server, client, 13);
    t.deepEqual(client.out.messages.map((m) => m.data.toString()), [message, message]);
  });
}
