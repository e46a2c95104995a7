/**
 * RFC 6455 §5.2-§5.3 base framing through the sans-I/O protocol: lengths in their three
 * encodings, masking by role, headers split anywhere, many frames per read.
 */
import test from 'ava';
import { Op, binary, frame, pattern, text } from '../../helpers/raw-client.js';
import {
  assertEvents, assertFailed, assertFramesSent, assertNothingSent, receive, rules, takeFrames,
} from '../../helpers/protocol-harness.js';

const rule = rules(test);

for (const length of [0, 1, 125, 126, 65535, 65536, 70_000]) {
  rule(`text and binary messages of ${length} bytes are delivered intact`, (t, c) => {
    const server = c.server();
    const body = pattern(length, length + 1);
    const words = 'ab✓'.repeat(Math.ceil(length / 5)).slice(0, length);
    receive(server, text(words), binary(body));
    assertEvents(t, server, [['text', words], ['binary', body]]);
    assertNothingSent(t, server);
  });
}

rule('non-minimal length encodings (16- and 64-bit for 5 bytes) are accepted (§5.2 does not require minimal)', (t, c) => {
  const server = c.server();
  receive(server, text('short', { lengthBits: 16 }), binary('bytes', { lengthBits: 64 }));
  assertEvents(t, server, [['text', 'short'], ['binary', Buffer.from('bytes')]]);
});

rule('an all-zero mask key leaves the payload as sent', (t, c) => {
  const server = c.server();
  receive(server, text('as is', { maskKey: Buffer.alloc(4) }));
  assertEvents(t, server, [['text', 'as is']]);
});

rule('300 frames in one read (more than one scan holds) are delivered in order', (t, c) => {
  const server = c.server();
  const frames = Array.from({ length: 300 }, (_, i) => text(`#${i}`));
  receive(server, Buffer.concat(frames));
  assertEvents(t, server, frames.map((_, i) => ['text', `#${i}`] as ['text', string]));
});

rule('a frame header split at every byte is parsed (7-, 16- and 64-bit lengths, with mask key)', (t, c) => {
  for (const length of [5, 300, 70_000]) {
    const bytes = binary(pattern(length), { lengthBits: length < 126 ? 7 : length < 65536 ? 16 : 64 });
    const headerBytes = length < 126 ? 6 : length < 65536 ? 8 : 14;
    for (let cut = 1; cut <= headerBytes; cut++) {
      const server = c.server();
      receive(server, bytes.subarray(0, cut), bytes.subarray(cut));
      assertEvents(t, server, [['binary', pattern(length)]]);
    }
  }
});

rule('frames and a partial header in one read, the rest in the next, are delivered in order', (t, c) => {
  const server = c.server();
  const bytes = Buffer.concat([text('one'), text('two'), binary(pattern(300))]);
  const cut = text('one').length + text('two').length + 3;
  receive(server, bytes.subarray(0, cut));
  assertEvents(t, server, [['text', 'one'], ['text', 'two']]);
  receive(server, bytes.subarray(cut));
  assertEvents(t, server, [['binary', pattern(300)]]);
});

rule('a server receiving an unmasked frame fails with 1002 (§5.1), whatever the opcode', (t, c) => {
  for (const opcode of [Op.TEXT, Op.BINARY, Op.CONTINUATION, Op.PING, Op.PONG, Op.CLOSE]) {
    const server = c.server();
    receive(server, frame({ opcode, payload: 'x', masked: false }));
    assertFailed(t, server, 1002, 'WS_ERR_EXPECTED_MASK');
    assertEvents(t, server, []);
  }
});

rule('a client receiving a masked frame fails with 1002 (§5.1)', (t, c) => {
  const client = c.client();
  receive(client, text('masked'));
  assertFailed(t, client, 1002, 'WS_ERR_UNEXPECTED_MASK');
  assertEvents(t, client, []);
});

rule('a client receives unmasked frames', (t, c) => {
  const client = c.client();
  receive(client, text('from the server', { masked: false }), binary(pattern(300), { masked: false }));
  assertEvents(t, client, [['text', 'from the server'], ['binary', pattern(300)]]);
});

rule('an unmasked frame after a valid one: the valid message is delivered, then 1002', (t, c) => {
  const server = c.server();
  receive(server, text('fine'), text('bare', { masked: false }), text('never read'));
  assertEvents(t, server, [['text', 'fine']]);
  assertFailed(t, server, 1002, 'WS_ERR_EXPECTED_MASK');
});

rule('a 64-bit length with its most significant bit set fails with 1002 (§5.2)', (t, c) => {
  const server = c.server();
  const header = Buffer.from([0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4]);
  receive(server, header);
  assertFailed(t, server, 1002, 'WS_ERR_INVALID_LENGTH');
});

rule('a server sends unmasked frames with the minimal length encoding', (t, c) => {
  const server = c.server();
  for (const length of [0, 125, 126, 65535, 65536]) server.protocol.send(pattern(length));
  const bytes = Buffer.concat(server.written);
  const frames = takeFrames(server);
  t.deepEqual(frames.map((f) => [f.opcode, f.payload.length, f.masked]), [0, 125, 126, 65535, 65536].map((n) => [Op.BINARY, n, false]));
  // Headers: 2 bytes up to 125, 4 up to 65535, 10 beyond.
  let at = 0;
  for (const f of frames) {
    const size = f.payload.length < 126 ? 2 : f.payload.length < 65536 ? 4 : 10;
    t.is(bytes[at + 1] & 0x7f, size === 2 ? f.payload.length : size === 4 ? 126 : 127);
    at += size + f.payload.length;
  }
  t.is(at, bytes.length);
});

rule('a client masks every frame it sends, and the payload unmasks to what was sent', (t, c) => {
  const client = c.client();
  client.protocol.send('hello');
  client.protocol.send(pattern(300));
  client.protocol.ping(Buffer.from('p'));
  client.protocol.close(1000, 'done');
  assertFramesSent(t, client, [
    { opcode: Op.TEXT, payload: 'hello' },
    { opcode: Op.BINARY, payload: pattern(300) },
    { opcode: Op.PING, payload: 'p' },
    { opcode: Op.CLOSE, payload: Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('done')]) },
  ]);
});

rule('send() picks the opcode: strings as text, bytes as binary, unless isBinary says otherwise', (t, c) => {
  const server = c.server();
  server.protocol.send('a');
  server.protocol.send(Buffer.from('b'));
  server.protocol.send('c', true);
  server.protocol.send(Buffer.from('d'), false);
  assertFramesSent(t, server, [
    { opcode: Op.TEXT, payload: 'a' }, { opcode: Op.BINARY, payload: 'b' },
    { opcode: Op.BINARY, payload: 'c' }, { opcode: Op.TEXT, payload: 'd' },
  ]);
});
