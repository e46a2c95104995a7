/**
 * Header rules through the sans-I/O protocol: RFC 6455 §5.2 reserved bits and opcodes, and the
 * message size limit (maxPayload, 1009 per §7.4.1), counted per message across fragments.
 */
import test from 'ava';
import { Op, RSV1, RSV2, RSV3, binary, continuation, fragments, frame, ping, text } from '../../helpers/raw-client.js';
import { assertEvents, assertFailed, assertFramesSent, assertNothingSent, receive, rules } from '../../helpers/protocol-harness.js';

const rule = rules(test);
const LIMIT = 1024;

for (const [rsvName, rsv] of [['RSV1', RSV1], ['RSV2', RSV2], ['RSV3', RSV3]] as const) {
  for (const [name, opcode] of [['text', Op.TEXT], ['binary', Op.BINARY], ['ping', Op.PING], ['close', Op.CLOSE]] as const) {
    rule(`a ${name} frame with ${rsvName} and no extension fails with 1002 (§5.2)`, (t, c) => {
      const server = c.server();
      receive(server, text('before'), frame({ opcode, rsv, payload: opcode === Op.CLOSE ? Buffer.from([3, 232]) : 'x' }), ping('after'));
      assertEvents(t, server, [['text', 'before']]);
      assertFailed(t, server, 1002, 'WS_ERR_UNEXPECTED_RSV');
    });
  }
}

rule('a continuation with RSV1 inside a fragmented message fails with 1002', (t, c) => {
  const server = c.server();
  receive(server, text('a', { fin: false }), frame({ opcode: Op.CONTINUATION, rsv: RSV1, payload: 'b' }));
  assertFailed(t, server, 1002, 'WS_ERR_UNEXPECTED_RSV');
  assertEvents(t, server, []);
});

for (const opcode of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
  rule(`a frame with reserved opcode ${opcode} fails with 1002, and a later ping is not answered (§5.2)`, (t, c) => {
    const server = c.server();
    receive(server, text('before'), frame({ opcode, payload: 'payload' }), ping());
    assertEvents(t, server, [['text', 'before']]);
    assertFailed(t, server, 1002, 'WS_ERR_INVALID_OPCODE');
  });
}

rule(`text and binary messages of exactly maxPayload (${LIMIT}) bytes are delivered, with any length encoding`, (t, c) => {
  const server = c.server({ maxPayload: LIMIT });
  receive(server, text('t'.repeat(LIMIT)), binary(Buffer.alloc(LIMIT, 1), { lengthBits: 64 }));
  assertEvents(t, server, [['text', 't'.repeat(LIMIT)], ['binary', Buffer.alloc(LIMIT, 1)]]);
});

rule('a fragmented message totalling exactly maxPayload is delivered whole', (t, c) => {
  const server = c.server({ maxPayload: LIMIT });
  receive(server, ...fragments(Op.BINARY, Buffer.alloc(LIMIT, 2), [1, 500, 1000]));
  assertEvents(t, server, [['binary', Buffer.alloc(LIMIT, 2)]]);
});

for (const [name, make] of [['text', () => text('t'.repeat(LIMIT + 1))], ['binary', () => binary(Buffer.alloc(LIMIT + 1))]] as const) {
  rule(`a ${name} frame of maxPayload + 1 bytes fails with 1009`, (t, c) => {
    const server = c.server({ maxPayload: LIMIT });
    receive(server, make());
    assertFailed(t, server, 1009, 'WS_ERR_MESSAGE_TOO_BIG');
    assertEvents(t, server, []);
  });
}

rule('a header announcing more than maxPayload fails with 1009 before any payload arrives', (t, c) => {
  for (const length of [LIMIT + 1, 2 ** 32 + 1, 2 ** 40]) {
    const server = c.server({ maxPayload: LIMIT });
    const header = Buffer.alloc(14);
    header[0] = 0x82;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
    receive(server, header);
    assertFailed(t, server, 1009, 'WS_ERR_MESSAGE_TOO_BIG');
  }
});

rule('a fragmented message growing past maxPayload fails with 1009 before its final fragment', (t, c) => {
  const server = c.server({ maxPayload: LIMIT });
  receive(server, binary(Buffer.alloc(600), { fin: false }));
  assertNothingSent(t, server);
  receive(server, continuation(Buffer.alloc(425), false));
  assertFailed(t, server, 1009, 'WS_ERR_MESSAGE_TOO_BIG');
});

rule('the limit is per message: many messages whose sum passes it are all delivered', (t, c) => {
  const server = c.server({ maxPayload: LIMIT });
  const frames = Array.from({ length: 5 }, (_, i) => binary(Buffer.alloc(LIMIT, i)));
  receive(server, ...frames);
  assertEvents(t, server, frames.map((_, i) => ['binary', Buffer.alloc(LIMIT, i)] as ['binary', Buffer]));
  assertFramesSent(t, server, []);
});
