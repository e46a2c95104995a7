/**
 * RFC 6455 §5.6, §8.1 UTF-8 of text messages through the sans-I/O protocol, with each validator
 * ('native': the protocol checks each segment; 'codec': the codec's scan checks as it unmasks):
 * valid text whole and split anywhere, invalid sequences failing fast with 1007, binary unchecked.
 */
import test from 'ava';
import { Op, binary, continuation, fragments, ping, text } from '../../helpers/raw-client.js';
import { assertEvents, assertFailed, assertFramesSent, receive, rules } from '../../helpers/protocol-harness.js';

const rule = rules(test);

const VALID = 'a\u007f\u0080ß\u07ff\u0800€\uffff\u{10000}𝄞😀\u{10ffff}';
const INVALID: ReadonlyArray<[string, number[]]> = [
  ['a lone continuation byte', [0x61, 0x80]],
  ['an overlong 2-byte NUL', [0xc0, 0x80]],
  ['an overlong 3-byte sequence', [0xe0, 0x80, 0x80]],
  ['a UTF-16 surrogate', [0xed, 0xa0, 0x80]],
  ['a code point over U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ['the byte F5', [0xf5, 0x80, 0x80, 0x80]],
  ['the byte FF', [0xff]],
];
const TRUNCATED: ReadonlyArray<[string, number[]]> = [
  ['2-byte', [0x61, 0xc3]], ['3-byte', [0x61, 0xe2, 0x82]], ['4-byte', [0x61, 0xf0, 0x9f, 0x98]],
];

for (const utf8Validator of ['native', 'codec'] as const) {
  const title = (what: string) => `${what} (${utf8Validator} validator)`;
  const server = (c: Parameters<Parameters<typeof rule>[1]>[1]) => c.server({ utf8Validator });

  rule(title('valid text from U+0000 to U+10FFFF, every length of sequence, is delivered'), (t, c) => {
    const s = server(c);
    receive(s, text(VALID));
    assertEvents(t, s, [['text', VALID]]);
  });

  rule(title('valid text split into 2 fragments at every byte is delivered whole'), (t, c) => {
    const bytes = Buffer.from(VALID);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const s = server(c);
      receive(s, ...fragments(Op.TEXT, bytes, [cut]));
      assertEvents(t, s, [['text', VALID]]);
    }
  });

  rule(title('valid text in one frame split into 2 reads at every byte is delivered whole'), (t, c) => {
    const frame = text(VALID);
    for (let cut = 1; cut < frame.length; cut++) {
      const s = server(c);
      receive(s, frame.subarray(0, cut), frame.subarray(cut));
      assertEvents(t, s, [['text', VALID]]);
    }
  });

  for (const [name, bytes] of INVALID) {
    rule(title(`text with ${name} fails with 1007`), (t, c) => {
      const s = server(c);
      receive(s, text(Buffer.from(bytes)));
      assertFailed(t, s, 1007, 'WS_ERR_INVALID_UTF8');
      assertEvents(t, s, []);
    });

    rule(title(`fragmented text with ${name} cut inside it fails with 1007`), (t, c) => {
      const s = server(c);
      receive(s, ...fragments(Op.TEXT, Buffer.from([0x61, ...bytes, 0x62]), [2]));
      assertFailed(t, s, 1007, 'WS_ERR_INVALID_UTF8');
    });
  }

  for (const [name, bytes] of TRUNCATED) {
    rule(title(`a text message ending inside a ${name} character fails with 1007`), (t, c) => {
      const s = server(c);
      receive(s, text(Buffer.from(bytes)));
      assertFailed(t, s, 1007, 'WS_ERR_INVALID_UTF8');
    });

    rule(title(`fragmented text ending inside a ${name} character in its last fragment fails with 1007`), (t, c) => {
      const s = server(c);
      receive(s, text('ok', { fin: false }), continuation(Buffer.from(bytes), true));
      assertFailed(t, s, 1007, 'WS_ERR_INVALID_UTF8');
    });
  }

  rule(title('an invalid first fragment fails with 1007 before the rest is sent (fail fast)'), (t, c) => {
    const s = server(c);
    receive(s, text(Buffer.from([0x61, 0xff]), { fin: false }));
    assertFailed(t, s, 1007, 'WS_ERR_INVALID_UTF8');
  });

  rule(title('an invalid byte in the first half of a large frame fails with 1007 before the second half arrives'), (t, c) => {
    const payload = Buffer.alloc(100_000, 0x61);
    payload[1000] = 0xff;
    const s = server(c);
    receive(s, text(payload).subarray(0, 50_000));
    assertFailed(t, s, 1007, 'WS_ERR_INVALID_UTF8');
  });

  rule(title('F4 90 (over U+10FFFF) fails with 1007 as soon as the 90 arrives, without the rest of the frame'), (t, c) => {
    const s = server(c);
    const frame = text(Buffer.from([0x61, 0xf4, 0x90, 0x80, 0x80, 0x62])); // 6 header bytes, then 61 F4 90...
    receive(s, frame.subarray(0, 8));
    assertFramesSent(t, s, []); // F4 may still start a character
    receive(s, frame.subarray(8, 9));
    assertFailed(t, s, 1007, 'WS_ERR_INVALID_UTF8');
  });

  rule(title('a character split across fragments with a ping between them is delivered whole'), (t, c) => {
    const s = server(c);
    const clef = Buffer.from('𝄞');
    receive(s, text(clef.subarray(0, 2), { fin: false }), ping('p'), continuation(clef.subarray(2), true));
    assertFramesSent(t, s, [{ opcode: Op.PONG, payload: 'p' }]);
    assertEvents(t, s, [['text', '𝄞']]);
  });

  rule(title('invalid UTF-8 in a continuation after a ping fails with 1007'), (t, c) => {
    const s = server(c);
    receive(s, text('ok', { fin: false }), ping());
    assertFramesSent(t, s, [{ opcode: Op.PONG }]);
    receive(s, continuation(Buffer.from([0xc0, 0xaf]), true));
    assertFailed(t, s, 1007, 'WS_ERR_INVALID_UTF8');
  });

  rule(title('binary messages and their continuations are not checked'), (t, c) => {
    const s = server(c);
    receive(s, binary(Buffer.from([0xff, 0xc0]), { fin: false }), continuation(Buffer.from([0xed, 0xa0, 0x80]), true));
    assertEvents(t, s, [['binary', Buffer.from([0xff, 0xc0, 0xed, 0xa0, 0x80])]]);
  });

  rule(title('text after a binary message ending inside a "character" is checked from a clean state'), (t, c) => {
    const s = server(c);
    receive(s, binary(Buffer.from([0xf0, 0x9f])), text('clean'), text(Buffer.from([0x98, 0x80])));
    assertEvents(t, s, [['binary', Buffer.from([0xf0, 0x9f])], ['text', 'clean']]);
    assertFailed(t, s, 1007, 'WS_ERR_INVALID_UTF8');
  });

  rule(title('a valid text message before an invalid one is delivered before the 1007'), (t, c) => {
    const s = server(c);
    receive(s, text('fine ✓'), text(Buffer.from([0xe2, 0x28, 0xa1])));
    assertEvents(t, s, [['text', 'fine ✓']]);
    assertFailed(t, s, 1007, 'WS_ERR_INVALID_UTF8');
  });
}
