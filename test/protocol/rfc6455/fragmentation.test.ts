/** RFC 6455 §5.4 fragmentation through the sans-I/O protocol: messages in fragments, control frames between them. */
import test from 'ava';
import { Op, binary, close, continuation, fragments, pattern, ping, pong, text } from '../../helpers/raw-client.js';
import {
  assertClosing, assertEvents, assertFailed, assertFramesSent, assertNothingSent, receive, rules,
} from '../../helpers/protocol-harness.js';

const rule = rules(test);

rule('a text message in 2 fragments is one text message', (t, c) => {
  const server = c.server();
  receive(server, text('Hel', { fin: false }));
  assertEvents(t, server, []);
  receive(server, continuation('lo', true));
  assertEvents(t, server, [['text', 'Hello']]);
});

rule('a binary message in fragments of varied sizes is one binary message', (t, c) => {
  const server = c.server();
  const body = pattern(70_000);
  receive(server, ...fragments(Op.BINARY, body, [1, 125, 126, 1000, 65_536]));
  assertEvents(t, server, [['binary', body]]);
});

rule('empty fragments (first, middle and last) are accepted', (t, c) => {
  const server = c.server();
  receive(server, text('', { fin: false }), continuation('a', false), continuation('', false), continuation('b', false), continuation('', true));
  assertEvents(t, server, [['text', 'ab']]);
  receive(server, binary('', { fin: false }), continuation('', true));
  assertEvents(t, server, [['binary', Buffer.alloc(0)]]);
});

rule('a ping between fragments is answered at once, and the message is delivered whole', (t, c) => {
  const server = c.server();
  receive(server, text('frag', { fin: false }), ping('between'));
  assertFramesSent(t, server, [{ opcode: Op.PONG, payload: 'between' }]);
  assertEvents(t, server, []);
  receive(server, continuation('ment', true));
  assertEvents(t, server, [['text', 'fragment']]);
});

rule('a pong between fragments reaches the sink and the message is delivered whole', (t, c) => {
  const server = c.server();
  receive(server, binary('ab', { fin: false }), pong('p'), continuation('cd', true));
  assertEvents(t, server, [['pong', Buffer.from('p')], ['binary', Buffer.from('abcd')]]);
  assertNothingSent(t, server);
});

for (const fin of [false, true]) {
  rule(`a continuation (FIN = ${fin ? 1 : 0}) without a started message fails with 1002`, (t, c) => {
    const server = c.server();
    receive(server, continuation('orphan', fin));
    assertFailed(t, server, 1002, 'WS_ERR_UNEXPECTED_CONTINUATION');
    assertEvents(t, server, []);
  });
}

rule('a continuation after a complete message: the message is delivered, then 1002', (t, c) => {
  const server = c.server();
  receive(server, text('done'), continuation('more', true));
  assertEvents(t, server, [['text', 'done']]);
  assertFailed(t, server, 1002, 'WS_ERR_UNEXPECTED_CONTINUATION');
});

for (const [name, opcode] of [['text', Op.TEXT], ['binary', Op.BINARY]] as const) {
  for (const fin of [false, true]) {
    rule(`a new ${name} frame (FIN = ${fin ? 1 : 0}) inside a fragmented message fails with 1002`, (t, c) => {
      const server = c.server();
      receive(server, text('start', { fin: false }), opcode === Op.TEXT ? text('again', { fin }) : binary('again', { fin }));
      assertFailed(t, server, 1002, 'WS_ERR_EXPECTED_CONTINUATION');
      assertEvents(t, server, []);
    });
  }
}

rule('a close between fragments ends the connection without delivering the partial message', (t, c) => {
  const server = c.server();
  receive(server, text('partial', { fin: false }), close(1000));
  assertClosing(t, server, 1000);
  assertEvents(t, server, []);
});

rule('a text message of 1000 one-byte fragments in one read is delivered whole', (t, c) => {
  const server = c.server();
  const message = Buffer.from('x'.repeat(1000));
  receive(server, Buffer.concat(fragments(Op.TEXT, message, Array.from({ length: 999 }, (_, i) => i + 1))));
  assertEvents(t, server, [['text', 'x'.repeat(1000)]]);
});

rule('a message after a fragmented one starts fresh: text, then binary', (t, c) => {
  const server = c.server();
  receive(server, text('te', { fin: false }), continuation('xt', true), binary('bi', { fin: false }), continuation('n', true), text('again'));
  assertEvents(t, server, [['text', 'text'], ['binary', Buffer.from('bin')], ['text', 'again']]);
});

rule('send() sends a message as one frame with FIN set, however large', (t, c) => {
  const server = c.server();
  server.protocol.send(pattern(200_000));
  assertFramesSent(t, server, [{ opcode: Op.BINARY, payload: pattern(200_000) }]);
});
