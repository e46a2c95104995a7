/**
 * Memory outside the JS heap: an application that keeps the Buffers it receives grows its
 * thread's `external` memory, which a worker's heap limit does not bound. Each thread's
 * external / arrayBuffers memory is in /healthz and stats(); past maxWorkerExternalMemory a
 * worker is replaced like a worker out of heap, and counted.
 */
import test from 'ava';
import { once } from 'node:events';
import WebSocket from 'ws';
import { listen } from '../../src/main-thread/server.js';
import { parseServeArgs, SERVE_USAGE, UsageError } from '../../src/cli-args.js';
import { fixture, healthz } from './server-process.js';
import { waitFor } from '../helpers/wait.js';

const MiB = 1024 * 1024;

/** Sends `count` messages of `size` bytes one after another, each after the previous reply; returns the last reply. */
async function sendKept(ws: WebSocket, count: number, size: number): Promise<string> {
  let last = '';
  for (let i = 0; i < count; i++) {
    ws.send(Buffer.alloc(size, i));
    const [reply] = await once(ws, 'message');
    last = String(reply);
  }
  return last;
}

interface ThreadMemoryBody { heapUsed: number; external: number; arrayBuffers: number }

test('[inline] the thread\'s external and arrayBuffers memory are in /healthz and grow with the Buffers a handler keeps', async (t) => {
  const server = await listen({ port: 0, app: fixture('hoarding-app'), workers: 0 });
  t.teardown(() => server.close());
  const before = (await healthz(server.port)).body.memory as { rss: number; threads: ThreadMemoryBody[] };
  t.is(before.threads.length, 1);
  t.true(before.rss > 0);
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  await once(ws, 'open');
  t.is(await sendKept(ws, 8, MiB), String(8 * MiB));
  const after = (await healthz(server.port)).body.memory as { rss: number; threads: ThreadMemoryBody[] };
  const [main] = after.threads;
  t.true(main.arrayBuffers - before.threads[0].arrayBuffers >= 8 * MiB, JSON.stringify({ before, after }));
  t.true(main.external >= main.arrayBuffers, 'arrayBuffers is part of external');
  t.deepEqual(Object.keys(main).sort(), ['arrayBuffers', 'external', 'heapUsed']);
  ws.close();
});

test('[1 worker] past maxWorkerExternalMemory the worker is replaced and counted; its memory was visible before, and the new worker serves', async (t) => {
  const server = await listen({ port: 0, app: fixture('hoarding-app'), workers: 1, maxWorkerExternalMemory: 40 * MiB });
  t.teardown(() => server.close());
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  await once(ws, 'open');
  t.is(await sendKept(ws, 16, MiB), String(16 * MiB));
  const { body } = await healthz(server.port);
  const worker = body.memory.threads[1] as ThreadMemoryBody;
  t.is(body.memory.threads.length, 2, 'the main thread, then the worker');
  t.true(worker.arrayBuffers >= 16 * MiB, JSON.stringify(body.memory));
  t.like(body.pool, { restarts: 0, overMemory: 0 });

  // 40 more MiB kept: past the cap, the worker goes, and the connection with it.
  const closed = once(ws, 'close');
  for (let i = 0; i < 40 && ws.readyState === WebSocket.OPEN; i++) ws.send(Buffer.alloc(MiB, i));
  const [code] = await closed;
  t.is(code, 1006, 'the connection dropped with its worker');
  await waitFor(async () => {
    const stats = await server.stats();
    return stats.pool!.restarts === 1 && stats.workers.every((w) => w !== null);
  }, 30_000, 50);
  const stats = await server.stats();
  t.like(stats.pool, { restarts: 1, overMemory: 1, stuck: 0 });
  t.true(stats.memory.threads[1]!.arrayBuffers < 16 * MiB, 'the new worker holds none of it');
  const again = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  await once(again, 'open');
  t.is(await sendKept(again, 1, 1024), '1024', 'the replacement worker serves');
  again.close();
  t.like((await healthz(server.port)).body.pool, { overMemory: 1 });
});

test('maxWorkerExternalMemory is an option and a serve flag, checked like the others', async (t) => {
  t.is(parseServeArgs([]).options.maxWorkerExternalMemory, 0);
  t.is(parseServeArgs(['--max-worker-external-memory', '1073741824']).options.maxWorkerExternalMemory, 1024 * MiB);
  t.throws(() => parseServeArgs(['--max-worker-external-memory', '1G']), { instanceOf: UsageError, message: /--max-worker-external-memory must be a whole number/ });
  t.regex(SERVE_USAGE, /--max-worker-external-memory BYTES/);
  await t.throwsAsync(listen({ port: 0, maxWorkerExternalMemory: 1.5 }), { instanceOf: TypeError, message: /option maxWorkerExternalMemory must be a whole number/ });
});
