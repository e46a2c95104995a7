/** WorkerRelay: what the main thread passes between workers and to the other nodes. */
import test from 'ava';
import type { Backplane } from '../../src/pubsub/broker.js';
import { WorkerRelay } from '../../src/pubsub/relay.js';

function setUp() {
  const delivered: string[] = [];
  const backplane = { patterns: [] as string[], publishes: [] as string[] };
  const recorder: Backplane = {
    addPattern: (pattern) => { backplane.patterns.push(`+${pattern}`); },
    removePattern: (pattern) => { backplane.patterns.push(`-${pattern}`); },
    publish: (topic, payload) => { backplane.publishes.push(`${topic}:${Buffer.from(payload)}`); },
  };
  const relay = new WorkerRelay((topic, payload, _isBinary, except) => {
    delivered.push(`${topic}:${Buffer.from(payload)} except ${except ?? 'none'}`);
  }, recorder);
  return { relay, delivered, backplane };
}

test('a worker\'s publish goes to the other workers and to the other nodes, not back to it', (t) => {
  const { relay, delivered, backplane } = setUp();
  relay.fromWorker(1, 'a.b', Buffer.from('x'), false);
  t.deepEqual(delivered, ['a.b:x except 1']);
  t.deepEqual(backplane.publishes, ['a.b:x']);
  t.deepEqual(relay.stats, { published: 0, received: 0 }, 'counted by the worker where it entered the node');
});

test('server.publish reaches every worker and the other nodes; another node\'s publish only the workers', (t) => {
  const { relay, delivered, backplane } = setUp();
  relay.publish('a', Buffer.from('1'), false);
  relay.fromBackplane('a', Buffer.from('2'), false);
  t.deepEqual(delivered, ['a:1 except none', 'a:2 except none']);
  t.deepEqual(backplane.publishes, ['a:1']);
  t.deepEqual(relay.stats, { published: 1, received: 1 });
});

test('the node subscribes in Redis to the union of the workers\' patterns', (t) => {
  const { relay, backplane } = setUp();
  relay.pattern(0, 'news.>', true);
  relay.pattern(1, 'news.>', true);
  relay.pattern(1, 'sport', true);
  relay.pattern(0, 'news.>', false);
  t.deepEqual(backplane.patterns, ['+news.>', '+sport'], 'still wanted by worker 1');
  relay.workerLost(1);
  t.deepEqual(backplane.patterns, ['+news.>', '+sport', '-news.>', '-sport']);
  relay.pattern(1, 'sport', false); // a late message from the lost worker changes nothing
  t.is(backplane.patterns.length, 4);
});
