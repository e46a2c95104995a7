/** RFC 6455 §5.5 control frames through the sans-I/O protocol: ping, pong, their size and fragmentation limits. */
import test from 'ava';
import { Op, frame, ping, pong, text } from '../../helpers/raw-client.js';
import {
  assertEvents, assertFailed, assertFramesSent, assertNothingSent, receive, rules,
} from '../../helpers/protocol-harness.js';

const rule = rules(test);

for (const [name, payload] of [['no payload', Buffer.alloc(0)], ['a 125-byte payload', Buffer.alloc(125, 0x61)], ['a binary payload with zero bytes', Buffer.from([0, 255, 0, 1])]] as const) {
  rule(`a ping with ${name} gets a pong with the identical payload (§5.5.2)`, (t, c) => {
    const server = c.server();
    receive(server, ping(payload));
    assertFramesSent(t, server, [{ opcode: Op.PONG, payload }]);
    assertEvents(t, server, []);
  });
}

rule('a ping with a non-minimal 16-bit length gets a pong', (t, c) => {
  const server = c.server();
  receive(server, ping('long form', { lengthBits: 16 }));
  assertFramesSent(t, server, [{ opcode: Op.PONG, payload: 'long form' }]);
});

rule('10 pings in one read get 10 pongs in order', (t, c) => {
  const server = c.server();
  receive(server, Buffer.concat(Array.from({ length: 10 }, (_, i) => ping(`${i}`))));
  assertFramesSent(t, server, Array.from({ length: 10 }, (_, i) => ({ opcode: Op.PONG, payload: `${i}` })));
});

rule('an unsolicited pong reaches the sink and gets no answer (§5.5.3)', (t, c) => {
  const server = c.server();
  receive(server, pong('unasked'), pong());
  assertEvents(t, server, [['pong', Buffer.from('unasked')], ['pong', Buffer.alloc(0)]]);
  assertNothingSent(t, server);
});

for (const [name, opcode] of [['ping', Op.PING], ['pong', Op.PONG], ['close', Op.CLOSE]] as const) {
  rule(`a ${name} with a 126-byte payload fails with 1002 and gets no answer (§5.5)`, (t, c) => {
    const server = c.server();
    receive(server, frame({ opcode, payload: Buffer.alloc(126, 0x30) }));
    assertFailed(t, server, 1002, 'WS_ERR_CONTROL_TOO_LONG');
    assertEvents(t, server, []);
  });

  rule(`a fragmented ${name} (FIN = 0) fails with 1002 (§5.5)`, (t, c) => {
    const server = c.server();
    receive(server, frame({ opcode, payload: 'ab', fin: false }));
    assertFailed(t, server, 1002, 'WS_ERR_FRAGMENTED_CONTROL');
    assertEvents(t, server, []);
  });
}

rule('a control frame announced over 125 bytes fails before its payload arrives', (t, c) => {
  const server = c.server();
  receive(server, frame({ opcode: Op.PING, payload: Buffer.alloc(300) }).subarray(0, 8)); // header + mask key
  assertFailed(t, server, 1002, 'WS_ERR_CONTROL_TOO_LONG');
});

rule('ping() sends a ping of at most 125 bytes; more is a RangeError', (t, c) => {
  const server = c.server();
  server.protocol.ping(Buffer.from('are you there'));
  server.protocol.ping();
  assertFramesSent(t, server, [{ opcode: Op.PING, payload: 'are you there' }, { opcode: Op.PING }]);
  t.throws(() => server.protocol.ping(Buffer.alloc(126)), { instanceOf: RangeError });
  assertNothingSent(t, server);
});

rule('a pong echoes a ping that arrived in pieces between data frames', (t, c) => {
  const server = c.server();
  receive(server, text('a'), ping(Buffer.alloc(125, 7)), text('b'));
  assertEvents(t, server, [['text', 'a'], ['text', 'b']]);
  assertFramesSent(t, server, [{ opcode: Op.PONG, payload: Buffer.alloc(125, 7) }]);
});
