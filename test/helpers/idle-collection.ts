/**
 * The check both idle-collection test files make: after `idleCollectAfter` connections a quiet
 * server collects once per thread, counts it, and still serves every connection. One file per
 * mode: the count and its pause spacing are per thread, and a test process's own main thread
 * would carry one test's collection into the next.
 */
import type { ExecutionContext } from 'ava';
import { once } from 'node:events';
import WebSocket from 'ws';
import { listen } from '../../src/main-thread/server.js';
import { waitFor } from './wait.js';

const CONNECTIONS = 20;

export async function collectsOncePerThreadWhenQuiet(t: ExecutionContext, workers: number): Promise<void> {
  const server = await listen({ port: 0, app: 'echo', workers, idleCollectAfter: CONNECTIONS });
  t.teardown(() => server.close());
  const clients = await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    await once(ws, 'open');
    return ws;
  }));
  // Every thread that saw the connections: the worker's and the main thread, which accepted them.
  const threads = workers + 1;
  // Quiet is the thread's own CPU use over a second (the polling here adds a little); the wait
  // is generous, so a busy machine only delays it.
  await waitFor(async () => (await server.stats()).idleCollections.collections >= threads, 90_000, 1000);
  const { idleCollections } = await server.stats();
  t.is(idleCollections.collections, threads);
  t.true(idleCollections.pauseMs > 0);
  for (const ws of clients) {
    const reply = once(ws, 'message');
    ws.send('after');
    t.is(String((await reply)[0]), 'after');
    ws.close();
  }
}
