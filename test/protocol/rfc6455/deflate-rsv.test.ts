/**
 * RFC 7692 §6 RSV1 rules through the sans-I/O protocol, with permessage-deflate negotiated:
 * RSV1 marks a compressed message on its first frame only; never on a continuation or a control
 * frame; RSV2 and RSV3 stay reserved. (test/protocol/deflate.test.ts covers inflating.)
 */
import test from 'ava';
import type { NegotiatedDeflate } from '../../../src/protocol/compression.js';
import { compressedFragments, compressedText, deflate } from '../../helpers/deflate.js';
import { Op, RSV1, RSV2, RSV3, frame, ping, text } from '../../helpers/raw-client.js';
import { assertEvents, assertFailed, assertFramesSent, receive, rules, type Case } from '../../helpers/protocol-harness.js';

const rule = rules(test);
const NEGOTIATED: NegotiatedDeflate = {
  send: { windowBits: 15, noContextTakeover: true }, receive: { windowBits: 15, noContextTakeover: true },
};
const withDeflate = (c: Case) => c.server({ deflate: { negotiated: NEGOTIATED, compressor: { threshold: 1 << 20, maxCompressBytes: 1 << 20, level: 6, memLevel: 8 } } });

rule('RSV1 is per message: compressed and uncompressed messages alternate', (t, c) => {
  const server = withDeflate(c);
  receive(server, compressedText('squeezed'), text('plain'), compressedText('squeezed again'));
  assertEvents(t, server, [['text', 'squeezed'], ['text', 'plain'], ['text', 'squeezed again']]);
});

rule('a compressed message in fragments with a ping between is delivered whole; RSV1 on its first frame only', (t, c) => {
  const server = withDeflate(c);
  const message = 'a message long enough to compress to more than six bytes ✓';
  const [first, ...rest] = compressedFragments(Op.TEXT, deflate(message), [3, 6]);
  receive(server, first, ping('p'), ...rest);
  assertFramesSent(t, server, [{ opcode: Op.PONG, payload: 'p' }]);
  assertEvents(t, server, [['text', message]]);
});

rule('RSV1 on a continuation fails with 1002, in a compressed message or not (§6.1)', (t, c) => {
  for (const start of [frame({ opcode: Op.TEXT, rsv: RSV1, payload: Buffer.alloc(0), fin: false }), text('a', { fin: false })]) {
    const server = withDeflate(c);
    receive(server, start, frame({ opcode: Op.CONTINUATION, rsv: RSV1, payload: 'b' }));
    assertFailed(t, server, 1002, 'WS_ERR_UNEXPECTED_RSV_1');
  }
});

for (const [name, opcode] of [['ping', Op.PING], ['pong', Op.PONG], ['close', Op.CLOSE]] as const) {
  rule(`RSV1 on a ${name} fails with 1002 (§6.1: control frames are never compressed)`, (t, c) => {
    const server = withDeflate(c);
    receive(server, frame({ opcode, rsv: RSV1 }));
    assertFailed(t, server, 1002, 'WS_ERR_UNEXPECTED_RSV_1');
  });
}

for (const [name, rsv] of [['RSV2', RSV2], ['RSV3', RSV3]] as const) {
  rule(`${name} still fails with 1002 when permessage-deflate is negotiated`, (t, c) => {
    const server = withDeflate(c);
    receive(server, frame({ opcode: Op.TEXT, rsv, payload: 'x' }));
    assertFailed(t, server, 1002, 'WS_ERR_UNEXPECTED_RSV');
  });
}

rule('the continuations of a compressed message carry no RSV1 and are inflated with its first frame', (t, c) => {
  const server = withDeflate(c);
  const compressed = deflate(Buffer.alloc(5000, 9));
  receive(server, ...compressedFragments(Op.BINARY, compressed, [1, compressed.length - 1]));
  assertEvents(t, server, [['binary', Buffer.alloc(5000, 9)]]);
});
