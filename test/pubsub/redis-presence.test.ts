import test from 'ava';
import { decodeHeartbeat, encodeHeartbeat, PeerSet, type Heartbeat } from '../../src/pubsub/redis-presence.js';

const heartbeat = (nodeId: string, subscribed: boolean, present = true): Heartbeat => ({ nodeId, present, subscribed, answerMe: false });

test('heartbeats round-trip every flag, and anything else decodes to undefined', (t) => {
  for (const present of [true, false]) {
    for (const subscribed of [true, false]) {
      for (const answerMe of [true, false]) {
        const sent: Heartbeat = { nodeId: 'nœud-1', present, subscribed, answerMe };
        t.deepEqual(decodeHeartbeat(encodeHeartbeat(Buffer.from(sent.nodeId), sent)), sent);
      }
    }
  }
  const good = encodeHeartbeat(Buffer.from('n'), { present: true, subscribed: true, answerMe: false });
  t.is(decodeHeartbeat(Buffer.alloc(0)), undefined);
  t.is(decodeHeartbeat(good.subarray(0, good.length - 1)), undefined, 'cut short');
  t.is(decodeHeartbeat(Buffer.concat([good, Buffer.from('x')])), undefined, 'trailing bytes');
  t.is(decodeHeartbeat(Buffer.from([2, ...good.subarray(1)])), undefined, 'another version');
  t.is(decodeHeartbeat(Buffer.from([1, 9, ...good.subarray(2)])), undefined, 'an unknown kind');
  t.is(decodeHeartbeat(Buffer.from([1, 1, 1, 0])), undefined, 'an empty nodeId');
});

test('a node is tracked from its first "subscribed", and confirmed until it says otherwise or is overdue', (t) => {
  const peers = new PeerSet(100, 1000);
  peers.heard(heartbeat('joining', false), 0);
  t.is(peers.size, 0, 'never subscribed: promised nothing, not waited for');
  peers.heard(heartbeat('b', true), 0);
  t.is(peers.size, 1);
  t.is(peers.confirmed(100), 1);
  t.is(peers.confirmed(101), 0, 'overdue');
  peers.heard(heartbeat('b', false), 101);
  t.is(peers.confirmed(101), 0, 'it lost its subscriptions');
  peers.heard(heartbeat('b', true), 102);
  t.is(peers.confirmed(102), 1);
});

test('invalidate() unconfirms everyone until each is heard again; goodbye and silence forget a node', (t) => {
  const peers = new PeerSet(100, 1000);
  for (const nodeId of ['b', 'c', 'd']) peers.heard(heartbeat(nodeId, true), 0);
  peers.invalidate();
  t.is(peers.confirmed(1), 0);
  peers.heard(heartbeat('b', true), 2);
  t.is(peers.confirmed(2), 1);
  peers.heard(heartbeat('c', false, false), 3);
  t.is(peers.size, 2, 'c said goodbye');
  t.deepEqual(peers.expire(1000), []);
  t.deepEqual(peers.expire(1001), ['d'], 'd silent past the forget time');
  t.is(peers.size, 1);
  t.is(peers.confirmed(3), 1);
});
