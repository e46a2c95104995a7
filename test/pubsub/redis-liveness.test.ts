import test from 'ava';
import { Redis } from 'ioredis';
import { PingWatch } from '../../src/pubsub/redis-liveness.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

test('a PING unanswered past the deadline is a stall; the answer ends it; a closed connection resets it', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.stop());
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  t.teardown(() => redis.disconnect());
  const changes: boolean[] = [];
  const watch = new PingWatch(redis, 200, () => changes.push(watch.stalled));
  await waitFor(() => redis.status === 'ready');

  watch.ping();
  watch.ping(); // one in flight at a time
  await redis.ping(); // answered after the watch's own (one connection, in order)
  t.deepEqual(changes, [], 'an answered PING changes nothing');
  t.false(watch.stalled);

  server.pause();
  t.teardown(() => server.resume());
  watch.ping();
  await waitFor(() => watch.stalled);
  t.true(watch.stalled);
  server.resume();
  await waitFor(() => !watch.stalled);
  t.deepEqual(changes, [true, false]);

  server.pause();
  watch.ping();
  await waitFor(() => watch.stalled);
  watch.reset();
  t.false(watch.stalled, 'reset: the next connection starts afresh');
  server.resume();
});
