/**
 * RFC 6455 §5.5.1, §7 the closing handshake through the sans-I/O protocol: close payloads,
 * codes and reasons, what is read after a close, and the states on each side.
 */
import test from 'ava';
import { ReadyState } from '../../../src/protocol/protocol.js';
import { Op, close, frame, ping, text } from '../../helpers/raw-client.js';
import {
  assertClosing, assertEvents, assertFailed, assertFramesSent, assertNothingSent, closePayload, receive, rules,
} from '../../helpers/protocol-harness.js';

const rule = rules(test);

rule('a close without payload gets a close without payload, then the server closes the transport', (t, c) => {
  const server = c.server();
  receive(server, close());
  assertClosing(t, server); // code 1005: none was given
});

rule('a close 1000 with a reason gets a close 1000 (the code echoed, no reason)', (t, c) => {
  const server = c.server();
  receive(server, close(1000, 'bye'));
  assertClosing(t, server, 1000, 'bye');
});

rule('a close with a 123-byte reason (a 125-byte payload) is accepted', (t, c) => {
  const server = c.server();
  receive(server, close(1000, 'r'.repeat(123)));
  assertClosing(t, server, 1000, 'r'.repeat(123));
});

rule('a close with a multibyte UTF-8 reason is accepted', (t, c) => {
  const server = c.server();
  receive(server, close(1001, 'au revoir ✓ 𝄞'));
  assertClosing(t, server, 1001, 'au revoir ✓ 𝄞');
});

for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]) {
  rule(`a close with valid code ${code} gets a close echoing ${code} (§7.4)`, (t, c) => {
    const server = c.server();
    receive(server, close(code));
    assertClosing(t, server, code);
  });
}

for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]) {
  rule(`a close with invalid code ${code} fails with 1002 (§7.4.1)`, (t, c) => {
    const server = c.server();
    receive(server, close(code));
    assertFailed(t, server, 1002, 'WS_ERR_INVALID_CLOSE_CODE');
  });
}

rule('a close with a 1-byte payload fails with 1002 (§5.5.1)', (t, c) => {
  const server = c.server();
  receive(server, frame({ opcode: Op.CLOSE, payload: Buffer.from([0x03]) }));
  assertFailed(t, server, 1002, 'WS_ERR_INVALID_CLOSE_PAYLOAD');
});

rule('a close whose reason is not UTF-8 fails with 1007', (t, c) => {
  for (const reason of [Buffer.from([0xff]), Buffer.from([0x61, 0xc0, 0x80]), Buffer.from('ok ✓').subarray(0, 5)]) {
    const server = c.server();
    receive(server, close(1000, reason));
    assertFailed(t, server, 1007, 'WS_ERR_INVALID_UTF8');
  }
});

rule('after a close frame nothing more is read: data, pings and a second close get no answer (§5.5.1)', (t, c) => {
  const server = c.server();
  receive(server, close(1000), text('late'), ping('late'), close(1001));
  assertClosing(t, server, 1000);
  receive(server, text('later still'), ping());
  assertEvents(t, server, []);
  assertNothingSent(t, server);
});

rule('a message before the close frame is delivered before the close is answered', (t, c) => {
  const server = c.server();
  receive(server, text('last words'), close(1000));
  assertEvents(t, server, [['text', 'last words']]);
  assertClosing(t, server, 1000);
});

rule('close() starts the handshake: CLOSING, no more data sent, and the peer\'s close ends it', (t, c) => {
  const server = c.server();
  server.protocol.close(1001, 'going');
  assertFramesSent(t, server, [{ opcode: Op.CLOSE, payload: closePayload(1001, 'going') }]);
  t.is(server.protocol.readyState, ReadyState.CLOSING);
  t.false(server.protocol.send('late'), 'send() refuses after our close');
  server.protocol.ping();
  server.protocol.close(1000);
  assertNothingSent(t, server);
  // Data and pings that cross our close are read but neither delivered nor answered.
  receive(server, text('in flight'), ping('in flight'));
  assertEvents(t, server, []);
  assertNothingSent(t, server);
  receive(server, close(1001));
  assertFramesSent(t, server, [], true); // no second close frame; the server closes the transport
  t.is(server.protocol.readyState, ReadyState.CLOSED);
  t.is(server.protocol.closeCode, 1001);
});

rule('close() refuses a reason over 123 bytes of UTF-8 and sends nothing', (t, c) => {
  const server = c.server();
  t.throws(() => server.protocol.close(1000, '✓'.repeat(42)), { instanceOf: RangeError }); // 126 bytes
  assertNothingSent(t, server);
  t.is(server.protocol.readyState, ReadyState.OPEN);
  server.protocol.close(1000, '✓'.repeat(41)); // 123 bytes
  assertFramesSent(t, server, [{ opcode: Op.CLOSE, payload: closePayload(1000, '✓'.repeat(41)) }]);
});

rule('a client answers a close but leaves closing the transport to the server (§7.1.1)', (t, c) => {
  const client = c.client();
  receive(client, close(1000, 'bye', { masked: false }));
  assertClosing(t, client, 1000, 'bye'); // for a client: no transport close expected
  t.false(client.protocol.send('late'));
});

rule('the transport ending without a close frame reports 1006, in OPEN and in CLOSING', (t, c) => {
  const open = c.server();
  open.protocol.receiveEnd();
  t.is(open.protocol.readyState, ReadyState.CLOSED);
  t.is(open.protocol.closeCode, 1006);
  const closing = c.server();
  closing.protocol.close(1000);
  closing.protocol.receiveEnd();
  t.is(closing.protocol.readyState, ReadyState.CLOSED);
  t.is(closing.protocol.closeCode, 1006);
  receive(closing, text('after the end'));
  assertEvents(t, closing, []);
});

rule('after a protocol error nothing more is read or sent, and send() refuses', (t, c) => {
  const server = c.server();
  receive(server, frame({ opcode: 3 }));
  assertFailed(t, server, 1002, 'WS_ERR_INVALID_OPCODE');
  receive(server, text('after'), ping('after'));
  assertEvents(t, server, []);
  t.false(server.protocol.send('x'));
  server.protocol.close();
  assertNothingSent(t, server);
});
