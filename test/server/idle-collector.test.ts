/**
 * The collection after a connection storm (src/server/idle-collector.ts), inline; worker mode
 * is test/pool/idle-collector.test.ts.
 */
import test from 'ava';
import { listen } from '../../src/main-thread/server.js';
import { collectsOncePerThreadWhenQuiet } from '../helpers/idle-collection.js';

test('[inline] after idleCollectAfter connections a quiet server collects once and still serves them', async (t) => {
  await collectsOncePerThreadWhenQuiet(t, 0);
});

test('idleCollectAfter must be a whole number ≥ 0 (0 turns it off)', async (t) => {
  await t.throwsAsync(listen({ port: 0, idleCollectAfter: -1 }), { instanceOf: TypeError, message: /idleCollectAfter must be a whole number ≥ 0/ });
  await t.throwsAsync(listen({ port: 0, idleCollectAfter: 1.5 }), { instanceOf: TypeError });
});
