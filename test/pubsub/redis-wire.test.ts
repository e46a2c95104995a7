/**
 * The backplane's message format (src/pubsub/redis-wire.ts): what a node writes reads back, a
 * history publish as the Lua script completes it, and what is cut short or not ours is refused.
 */
import test from 'ava';
import { decodeMessage, encodeHeader, encodeMessage, epochOf, headerLength, isFrom, originOf, VERSION_WITH_OFFSET } from '../../src/pubsub/redis-wire.js';

const node = Buffer.from('node-a');

test('a publish reads back: origin, seq past 2^32, binary flag and payload', (t) => {
  const seq = 2 ** 40 + 7;
  const message = encodeMessage(node, seq, Buffer.from('hello'), true);
  t.is(message.length, headerLength(node.length) + 5);
  const decoded = decodeMessage(message)!;
  t.like(decoded, { seq, isBinary: true, offset: undefined, epochAt: -1 });
  t.is(originOf(message, decoded), 'node-a');
  t.true(isFrom(message, decoded, node));
  t.false(isFrom(message, decoded, Buffer.from('node-b')));
  t.is(message.subarray(decoded.payloadAt).toString(), 'hello');
});

test('a history publish, as the Lua script completes its header: offset, epoch and delivery', (t) => {
  const header = encodeHeader(node, VERSION_WITH_OFFSET, 3, false);
  const delivery = Buffer.from('{"offset":42}');
  const message = Buffer.concat([header, Buffer.from([2]), Buffer.from('42'), Buffer.from([5]), Buffer.from('ep-01'), delivery]);
  const decoded = decodeMessage(message)!;
  t.like(decoded, { seq: 3, isBinary: false, offset: 42 });
  t.is(epochOf(message, decoded), 'ep-01');
  t.deepEqual(message.subarray(decoded.payloadAt), delivery);
});

test('cut short, without a node id, or a history publish without an offset: refused', (t) => {
  const message = encodeMessage(node, 1, Buffer.from('x'), false);
  t.is(decodeMessage(message.subarray(0, headerLength(node.length) - 1)), undefined);
  t.is(decodeMessage(Buffer.from([1, 0])), undefined);
  t.is(decodeMessage(encodeMessage(Buffer.alloc(0), 1, Buffer.from('x'), false)), undefined);
  t.is(decodeMessage(encodeHeader(node, VERSION_WITH_OFFSET, 1, false)), undefined, 'version 2 with nothing after the header');
  t.is(decodeMessage(Buffer.concat([encodeHeader(node, VERSION_WITH_OFFSET, 1, false), Buffer.from([1]), Buffer.from('0'), Buffer.from([0])])), undefined, 'offset 0');
});
