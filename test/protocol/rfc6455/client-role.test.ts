/**
 * The same machine in the client role (the load generator's): unmasked frames in, masked frames
 * out (RFC 6455 §5.1), and the closing handshake left to the server's TCP close (§7.1.1).
 */
import test from 'ava';
import { ReadyState } from '../../../src/protocol/protocol.js';
import { Op, binary, close, continuation, ping, text } from '../../helpers/raw-client.js';
import {
  assertClosing, assertEvents, assertFailed, assertFramesSent, closePayload, receive, rules,
} from '../../helpers/protocol-harness.js';

const rule = rules(test);
const bare = { masked: false } as const;

rule('a client receives a fragmented text message with a split character', (t, c) => {
  const client = c.client();
  const smile = Buffer.from('😀');
  receive(client, text(smile.subarray(0, 2), { ...bare, fin: false }), continuation(Buffer.concat([smile.subarray(2), smile]), false, bare),
    continuation('', true, bare));
  assertEvents(t, client, [['text', '😀😀']]);
});

rule('a client answers a ping with a masked pong', (t, c) => {
  const client = c.client();
  receive(client, ping('ping from the server', bare));
  assertFramesSent(t, client, [{ opcode: Op.PONG, payload: 'ping from the server' }]);
});

rule('a client closing first: masked close, CLOSING, then CLOSED on the server\'s close, without closing TCP itself', (t, c) => {
  const client = c.client();
  client.protocol.close(1000, 'done');
  assertFramesSent(t, client, [{ opcode: Op.CLOSE, payload: closePayload(1000, 'done') }]);
  t.is(client.protocol.readyState, ReadyState.CLOSING);
  receive(client, close(1000, '', bare));
  assertFramesSent(t, client, []); // no second close, and the server closes TCP
  t.is(client.protocol.readyState, ReadyState.CLOSED);
  t.is(client.protocol.closeCode, 1000);
});

rule('a client answers the server\'s close and reports its code and reason', (t, c) => {
  const client = c.client();
  receive(client, binary('last', bare), close(1001, 'going away', bare));
  assertEvents(t, client, [['binary', Buffer.from('last')]]);
  assertClosing(t, client, 1001, 'going away');
});

rule('a client fails on invalid UTF-8 with a masked 1007 close', (t, c) => {
  const client = c.client();
  receive(client, text(Buffer.from([0xce, 0xbb, 0xff]), bare));
  assertFailed(t, client, 1007, 'WS_ERR_INVALID_UTF8');
});

rule('a client applies maxPayload to what the server sends (1009)', (t, c) => {
  const client = c.client({ maxPayload: 100 });
  receive(client, binary(Buffer.alloc(100), bare), binary(Buffer.alloc(101), bare));
  assertEvents(t, client, [['binary', Buffer.alloc(100)]]);
  assertFailed(t, client, 1009, 'WS_ERR_MESSAGE_TOO_BIG');
});
