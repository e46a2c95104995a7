import test from 'ava';
import { deflateRawSync } from 'node:zlib';
import { jsonLikeText } from '../../src/load/json-text.js';
import { createEchoPayload, readEchoSentAt, readEchoSeq, stampEchoPayload, TEXT_SEQ_MODULUS } from '../../src/load/payload.js';
import { DeliveryReader, epochMicros, PublishTemplate, PUBLISH_MIN_SIZE, SEQ_MODULUS, subscribeMessage } from '../../src/load/pubsub-format.js';
import { checkResponseHead, createClientHandshake, responseHeader } from '../../src/load/handshake.js';
import { parseTarget } from '../../src/load/args.js';
import { DataFrameReader } from '../../src/load/data-frame-reader.js';

test('an echo payload carries its sequence number and send time, as ASCII text or binary', (t) => {
  for (const binary of [false, true]) {
    const payload = createEchoPayload(20, binary);
    stampEchoPayload(payload, binary, TEXT_SEQ_MODULUS + 7, 123_456.789);
    t.is(payload.length, 20);
    t.is(readEchoSeq(payload, binary), binary ? TEXT_SEQ_MODULUS + 7 : 7);
    t.is(Math.round(readEchoSentAt(payload, binary) * 1000), 123_456_789);
    if (!binary) t.regex(payload.toString('latin1'), /^[0-9a-f]{16}a{4}$/);
  }
});

test('pub/sub messages: subscribe, a publish stamped in place with its publisher and sequence, a delivery read back', (t) => {
  t.deepEqual(JSON.parse(subscribeMessage('prices')), { type: 'subscribe', topic: 'prices' });
  const template = new PublishTemplate('prices', 40);
  const now = epochMicros();
  const publish = JSON.parse(template.stamp(now, 0x1f, SEQ_MODULUS + 42).toString()) as { type: string; topic: string; data: string };
  t.is(publish.type, 'publish');
  t.is(publish.topic, 'prices');
  t.is(publish.data.length, 40, '--size sets the data size, stamp included');
  t.regex(publish.data, /^[0-9a-f]{13}:0001f:0000002ax+$/);
  const delivery = Buffer.from(JSON.stringify({ type: 'message', topic: 'prices', data: publish.data }));
  // The fast path (our serialisation at its offset) and the general one read the same stamp.
  const reader = new DeliveryReader('prices');
  t.true(reader.read(delivery));
  t.deepEqual({ ...reader.stamp }, { sentAt: now, publisher: 0x1f, seq: 42 });
  // Another serialisation of the same delivery (spaces, other key order) goes through JSON.parse.
  const spaced = Buffer.from(`{ "topic": "prices", "data": "${publish.data}", "type": "message" }`);
  t.true(reader.read(spaced));
  t.deepEqual({ ...reader.stamp }, { sentAt: now, publisher: 0x1f, seq: 42 });
  // Another topic's delivery is still read; a broken stamp is not ours.
  t.true(new DeliveryReader('other').read(delivery));
  t.false(reader.read(Buffer.from(delivery.toString().replace(':0001f:', ':0001g:'))));
  t.false(reader.read(Buffer.from('{"type":"subscribed","topic":"prices"}')));
  t.false(reader.read(Buffer.from(delivery.toString().replace('"message"', '"massage"'))), 'same length, another type');
  t.false(reader.read(Buffer.from('not json')));
  t.is(PUBLISH_MIN_SIZE, 28);
});

test('the client handshake checks the status, the upgrade tokens and Sec-WebSocket-Accept', (t) => {
  const { request, expectedAccept } = createClientHandshake(parseTarget('ws://example.test:81/a?b'));
  t.regex(request.toString(), /^GET \/a\?b HTTP\/1\.1\r\nHost: example\.test:81\r\n.*Sec-WebSocket-Key: [A-Za-z0-9+/]{22}==\r\nSec-WebSocket-Version: 13\r\n\r\n$/s);
  const ok = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: ${expectedAccept}`;
  t.is(checkResponseHead(ok, expectedAccept), undefined);
  t.is(checkResponseHead('HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13', expectedAccept), 'status 426');
  t.is(checkResponseHead(ok.replace(expectedAccept, 'AAAA'), expectedAccept), 'bad-accept');
  t.is(checkResponseHead(ok.replace('Upgrade: WebSocket', 'Upgrade: h2c'), expectedAccept), 'bad-upgrade');
  t.is(checkResponseHead('SSH-2.0-OpenSSH', expectedAccept), 'bad-response');
});

test('--payload json: exact sizes, the stamps still read back, and text that compresses like data, not like one repeated byte', (t) => {
  for (const size of [16, 100, 1024, 65_536]) {
    const payload = createEchoPayload(size, false, 'json');
    stampEchoPayload(payload, false, 9, 5.5);
    t.is(payload.length, size);
    t.is(readEchoSeq(payload, false), 9);
    t.true(isAscii(payload), `${size} B is ASCII`);
  }
  // Deterministic: every run, and every server in a benchmark, sees the same text.
  t.deepEqual(createEchoPayload(4096, false, 'json'), createEchoPayload(4096, false, 'json'));
  for (const size of [1024, 65_536]) {
    const text = jsonLikeText(size);
    const ratio = size / deflateRawSync(text).length;
    t.true(ratio > 1.5 && ratio < 10, `${size} B compresses ${ratio.toFixed(1)}:1 (the 'a' padding: ${(size / deflateRawSync('a'.repeat(size)).length).toFixed(0)}:1)`);
    t.regex(text, /^\{"[a-z]+":/);
  }
  const template = new PublishTemplate('prices', 2048, 'json');
  const now = epochMicros();
  const publish = JSON.parse(template.stamp(now, 0, 3).toString()) as { data: string };
  t.is(publish.data.length, 2048);
  t.false(publish.data.includes('"'), 'the data needs no escaping inside its JSON string');
  const reader = new DeliveryReader('prices');
  t.true(reader.read(Buffer.from(JSON.stringify({ type: 'message', topic: 'prices', data: publish.data }))));
  t.is(reader.stamp.sentAt, now);
});

test('the client handshake offers extensions when asked, and a response header is read with its repeats joined', (t) => {
  const { request } = createClientHandshake(parseTarget('ws://127.0.0.1:1/'), 'permessage-deflate; client_max_window_bits');
  t.regex(request.toString(), /\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n$/);
  t.notRegex(createClientHandshake(parseTarget('ws://127.0.0.1:1/')).request.toString(), /Extensions/);
  const head = 'HTTP/1.1 101 Switching Protocols\r\nsec-websocket-extensions: permessage-deflate\r\nX: y\r\nSec-WebSocket-Extensions:  x-other ';
  t.is(responseHeader(head, 'sec-websocket-extensions'), 'permessage-deflate, x-other');
  t.is(responseHeader(head, 'sec-websocket-protocol'), undefined);
});

function isAscii(bytes: Buffer): boolean {
  return bytes.every((byte) => byte >= 0x20 && byte < 0x7f);
}

test('a delivery split over reads at any byte is still read from its head: the frame reader keeps bytes up to the stamp', (t) => {
  const template = new PublishTemplate('prices', 64);
  const now = epochMicros();
  const data = (JSON.parse(template.stamp(now, 3, 77).toString()) as { data: string }).data;
  const payload = Buffer.from(JSON.stringify({ type: 'message', topic: 'prices', data }));
  const frame = Buffer.concat([Buffer.from([0x81, payload.length]), payload]); // RFC 6455 §5.2: under 126 bytes, a 7-bit length
  const reader = new DeliveryReader('prices');
  for (let cut = 1; cut < frame.length; cut++) {
    const stamps: Array<{ sentAt: number; publisher: number; seq: number; size: number }> = [];
    const read = (bytes: Buffer, start: number, length: number, size: number) => {
      t.true(reader.readAt(bytes, start, length), `cut at ${cut}`);
      stamps.push({ ...reader.stamp, size });
    };
    const frames = new DataFrameReader('conn', {
      frame: (_conn, bytes, start, length) => read(bytes, start, length, length),
      splitFrame: (_conn, head, length) => read(head, 0, head.length, length),
    }, Buffer.alloc(0), 1 << 20, reader.stampEnd);
    // Each read lands in the same reused buffer, as the shard's shared read buffer does.
    const readBuffer = Buffer.alloc(frame.length);
    for (const [from, to] of [[0, cut], [cut, frame.length]]) {
      frame.copy(readBuffer, 0, from, to);
      t.is(frames.read(readBuffer.subarray(0, to - from)), undefined);
      readBuffer.fill(0xee);
    }
    t.deepEqual(stamps, [{ sentAt: now, publisher: 3, seq: 77, size: payload.length }]);
  }
});
