import test from 'ava';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import WebSocket from 'ws';
import { listen, type WasmSocketServer } from '../../src/main-thread/server.js';
import { CODEC_KINDS } from '../helpers/codecs.js';
import { waitFor } from '../helpers/wait.js';
import { closeCode, openClient, request } from '../helpers/ws-client.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}.js`, import.meta.url));

/** Waits until `restarts` workers have been replaced and every worker answers. */
async function untilReplaced(server: WasmSocketServer, restarts: number): Promise<void> {
  for (;;) {
    const stats = await server.stats();
    if (stats.pool!.restarts >= restarts && stats.workers.every((worker) => worker !== null)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const codec of CODEC_KINDS) {
  test(`[${codec}] connections are spread over the workers, least-loaded first`, async (t) => {
    const server = await listen({ port: 0, codec, workers: 2, app: fixture('crashing-app') });
    t.teardown(() => server.close());
    const clients = await Promise.all(Array.from({ length: 6 }, () => openClient(server)));
    t.deepEqual(server.workerLoads, [3, 3]);
    const threads = new Set(await Promise.all(clients.map((ws) => request(ws, 'whoami'))));
    t.is(threads.size, 2, 'two distinct worker threads serve the connections');
    for (const ws of clients) ws.close();
  });

  test(`[${codec}] 10 000 messages on one connection echo back in order through a worker`, async (t) => {
    const server = await listen({ port: 0, codec, workers: 2, app: 'echo' });
    t.teardown(() => server.close());
    const ws = await openClient(server);
    const received: string[] = [];
    const done = new Promise<void>((resolve) => ws.on('message', (data) => {
      received.push(String(data));
      if (received.length === 10_000) resolve();
    }));
    for (let i = 0; i < 10_000; i++) ws.send(i % 7 === 0 ? Buffer.from(`b${i}`) : `t${i}`);
    await done;
    t.deepEqual(received, Array.from({ length: 10_000 }, (_, i) => (i % 7 === 0 ? `b${i}` : `t${i}`)));
    ws.close();
  });

  test(`[${codec}] a handler that throws in a worker closes only its connection with 1011`, async (t) => {
    const errors: Error[] = [];
    const server = await listen({ port: 0, codec, workers: 1, app: fixture('throwing-app'), onError: (e) => errors.push(e) });
    t.teardown(() => server.close());
    const greet = (ws: WebSocket) => new Promise((resolve) => ws.once('message', resolve));
    const victim = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    const bystander = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    await Promise.all([greet(victim), greet(bystander)]);
    const victimClosed = closeCode(victim);
    victim.send('boom');
    t.is(await victimClosed, 1011);
    // The report travels to the main thread apart from the close frame: wait for it.
    await waitFor(() => errors.length > 0);
    t.regex(errors[0]?.message ?? '', /handler failure on purpose/);
    t.is(await request(bystander, 'still here'), 'STILL HERE');
    bystander.close();
  });

  test(`[${codec}] a worker that dies closes its connections with 1011 and the server goes on`, async (t) => {
    const errors: Error[] = [];
    const server = await listen({ port: 0, codec, workers: 2, app: fixture('crashing-app'), onError: (e) => errors.push(e) });
    t.teardown(() => server.close());
    const clients = await Promise.all(Array.from({ length: 4 }, () => openClient(server)));
    const threads = await Promise.all(clients.map((ws) => request(ws, 'whoami')));
    const doomedThread = threads[0];
    const doomed = clients.filter((_, i) => threads[i] === doomedThread);
    const survivors = clients.filter((_, i) => threads[i] !== doomedThread);
    const doomedCodes = Promise.all(doomed.map(closeCode));
    clients[0].send('crash');
    t.deepEqual(await doomedCodes, doomed.map(() => 1011));
    // The clients' 1011 and the worker's report travel separately: wait for the report.
    const reported = /worker \d is ending after an uncaught error, closing its connections with 1011: Error: worker crash on purpose/;
    await waitFor(() => errors.some((e) => reported.test(e.message))).catch(() => undefined);
    t.regex(errors.map((e) => e.message).join('\n'), reported);
    // The other worker's connections never noticed.
    for (const ws of survivors) t.is(await request(ws, 'still alive'), 'still alive');
    // New connections are served, on the replacement worker too, once it runs.
    await untilReplaced(server, 1);
    // Least-loaded placement sends a connection to the replacement as soon as it takes sockets;
    // on a busy machine that may be a few connections later, so open them one at a time.
    const fresh: WebSocket[] = [];
    const freshThreads = new Set<string>();
    while (freshThreads.size < 2 && fresh.length < 100) {
      const ws = await openClient(server);
      fresh.push(ws);
      freshThreads.add(await request(ws, 'whoami'));
      if (freshThreads.size < 2) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    t.is(freshThreads.size, 2, 'new connections reach both the surviving worker and the replacement');
    t.false(freshThreads.has(doomedThread), 'the dead thread was replaced');
    for (const ws of [...survivors, ...fresh]) ws.close();
  });

  test(`[${codec}] a client that stops reading does not grow the server's buffers without bound`, async (t) => {
    const server = await listen({ port: 0, codec, workers: 1, app: fixture('flood-app'), highWaterMark: 256 * 1024 });
    t.teardown(() => server.close());
    const ws = await openClient(server);
    const rawSocket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
    rawSocket.pause();
    // Each message asks for 64 KiB: 400 of them would queue 25 MiB without backpressure.
    for (let i = 0; i < 400; i++) {
      ws.send('more');
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { bufferedAmount } = await server.stats();
    t.true(bufferedAmount < 8 * 1024 * 1024, `server holds ${bufferedAmount} bytes for one slow reader`);
    let count = 0;
    const all = new Promise<void>((resolve) => ws.on('message', () => { if (++count === 400) resolve(); }));
    rawSocket.resume();
    await all;
    t.is(count, 400, 'every reply arrives once the client reads again');
    ws.close();
  });

  test(`[${codec}] server close with workers sends 1001 to every client and stops the pool`, async (t) => {
    const server = await listen({ port: 0, codec, workers: 2, app: 'echo' });
    const clients = await Promise.all(Array.from({ length: 5 }, () => openClient(server)));
    const codes = Promise.all(clients.map(closeCode));
    await server.close();
    t.deepEqual(await codes, [1001, 1001, 1001, 1001, 1001]);
    t.deepEqual(server.workerLoads, [0, 0], 'every socket was closed before the workers stopped');
  });
}

for (const [how, command] of [['exits (process.exit)', 'exit'], ['is stuck in an endless loop', 'hang']] as const) {
  test(`a worker that ${how} mid-traffic loses only its own connections and is replaced`, async (t) => {
    const errors: string[] = [];
    const logs: string[] = [];
    const server = await listen({
      port: 0, workers: 2, app: fixture('crashing-app'), workerHeartbeatTimeoutMs: command === 'hang' ? 2000 : undefined,
      onError: (e) => errors.push(e.message), log: (line) => logs.push(line),
    });
    t.teardown(() => server.close());
    const clients = await Promise.all(Array.from({ length: 4 }, () => openClient(server)));
    const threads = await Promise.all(clients.map((ws) => request(ws, 'whoami')));
    const doomed = clients.filter((_, i) => threads[i] === threads[0]);
    const survivors = clients.filter((_, i) => threads[i] !== threads[0]);
    // Traffic on every connection while the worker goes down.
    const echoes = survivors.map(async (ws) => { for (let i = 0; i < 50; i++) t.is(await request(ws, `s${i}`), `s${i}`); });
    const doomedCodes = Promise.all(doomed.map(closeCode));
    clients[0].send(command);
    // The thread that could have sent a close frame is gone: its clients see TCP close (1006).
    t.deepEqual(await doomedCodes, doomed.map(() => 1006));
    await Promise.all(echoes);
    await untilReplaced(server, 1);
    const health = await (await fetch(`http://127.0.0.1:${server.port}/healthz`)).json() as { pool: { restarts: number; stuck: number } };
    t.like(health.pool, { restarts: 1, stuck: command === 'hang' ? 1 : 0 });
    if (command === 'hang') t.regex(logs.join('\n'), /worker \d did not answer \d+ heartbeats \d+ ms apart: replacing it/);
    t.regex(logs.join('\n'), /worker \d died/);
    const fresh = await Promise.all(Array.from({ length: 4 }, () => openClient(server)));
    const freshThreads = await Promise.all(fresh.map((ws) => request(ws, 'whoami')));
    t.is(new Set(freshThreads).size, 2, 'both workers serve new connections');
    t.false(freshThreads.includes(threads[0]), 'the lost thread was replaced');
    for (const ws of [...survivors, ...fresh]) ws.close();
  });
}

test('a worker serves its sockets by itself: traffic flows while the main thread is blocked', async (t) => {
  const server = await listen({ port: 0, workers: 1, app: 'echo' });
  t.teardown(() => server.close());
  const flag = new Int32Array(new SharedArrayBuffer(8));
  const client = new Worker(fileURLToPath(new URL('../fixtures/echo-client-thread.js', import.meta.url)), {
    workerData: { port: server.port, roundTrips: 200, flag },
  });
  t.teardown(() => client.terminate());
  // Wait (without blocking) until the client is connected: the acceptor had to run for that.
  while (Atomics.load(flag, 1) === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  // Now block this thread, the server's main thread: no socket of the main thread can be read
  // or written until the client's 200 round trips are done, or 60 s pass.
  const woke = Atomics.wait(flag, 0, 0, 60_000);
  t.not(woke, 'timed-out', 'the round trips completed while the main thread was blocked');
  t.is(Atomics.load(flag, 0), 1, 'every echo came back in order');
});

test('a worker that keeps dying at start is restarted with backoff, and the server stays up', async (t) => {
  const logs: string[] = [];
  const server = await listen({ port: 0, workers: 1, app: fixture('worker-hostile-app'), log: (line) => logs.push(line) });
  t.teardown(() => server.close());
  const deathCount = () => logs.filter((line) => /worker 0 died/.test(line)).length;
  await new Promise((resolve) => setTimeout(resolve, 2000));
  // Without backoff a worker that dies at load restarts dozens of times in two seconds.
  t.true(deathCount() <= 8, `restarts back off: ${deathCount()} deaths in 2 s`);
  // On a slow machine a worker takes longer to start and die: wait for the second death.
  await waitFor(() => deathCount() >= 2, 15_000, 100);
  t.true(deathCount() >= 2, `the worker was restarted after dying (${deathCount()} deaths)`);
  // Between deaths no worker runs: the main thread answers, /healthz included, with 503.
  const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
  t.is(health.status, 503, 'a node without a running worker fails its health check');
  t.like(await health.json(), { status: 'unavailable', pool: { stuck: 0 } });
  // A WebSocket either waits out a restart (503) or lands on a worker that then dies (1011).
  const outcome = await new Promise<string>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    ws.once('unexpected-response', (_request, response) => resolve(`http ${response.statusCode}`));
    ws.once('close', (code) => resolve(`close ${code}`));
    ws.once('error', () => {});
  });
  t.regex(outcome, /^(http 503|close 1011)$/);
});
