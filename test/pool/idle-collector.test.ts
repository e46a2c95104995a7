/**
 * The collection after a connection storm (src/server/idle-collector.ts) with a worker: the
 * worker, which serves the connections, and the main thread, which accepted them, each collect.
 */
import test from 'ava';
import { collectsOncePerThreadWhenQuiet } from '../helpers/idle-collection.js';

test('[1 worker] after idleCollectAfter connections the worker and the main thread each collect once, and the connections are still served', async (t) => {
  await collectsOncePerThreadWhenQuiet(t, 1);
});
