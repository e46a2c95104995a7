import test from 'ava';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { listen, type WasmSocketServer } from '../../src/server/server.js';
import { CODEC_KINDS } from '../helpers/codecs.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}.js`, import.meta.url));

async function open(server: WasmSocketServer): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  await once(ws, 'open');
  return ws;
}

function request(ws: WebSocket, text: string): Promise<string> {
  const reply = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
  ws.send(text);
  return reply;
}

function closeCode(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

for (const codec of CODEC_KINDS) {
  test(`[${codec}] connections are spread over the workers, least-loaded first`, async (t) => {
    const server = await listen({ port: 0, codec, workers: 2, app: fixture('crashing-app') });
    t.teardown(() => server.close());
    const clients = await Promise.all(Array.from({ length: 6 }, () => open(server)));
    t.deepEqual(server.workerLoads, [3, 3]);
    const threads = new Set(await Promise.all(clients.map((ws) => request(ws, 'whoami'))));
    t.is(threads.size, 2, 'two distinct worker threads serve the connections');
    for (const ws of clients) ws.close();
  });

  test(`[${codec}] 10 000 messages on one connection echo back in order through a worker`, async (t) => {
    const server = await listen({ port: 0, codec, workers: 2, app: 'echo' });
    t.teardown(() => server.close());
    const ws = await open(server);
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
    t.regex(errors[0]?.message ?? '', /handler failure on purpose/);
    t.is(await request(bystander, 'still here'), 'STILL HERE');
    bystander.close();
  });

  test(`[${codec}] a worker that dies closes its connections with 1011 and the server goes on`, async (t) => {
    const errors: Error[] = [];
    const server = await listen({ port: 0, codec, workers: 2, app: fixture('crashing-app'), onError: (e) => errors.push(e) });
    t.teardown(() => server.close());
    const clients = await Promise.all(Array.from({ length: 4 }, () => open(server)));
    const threads = await Promise.all(clients.map((ws) => request(ws, 'whoami')));
    const doomedThread = threads[0];
    const doomed = clients.filter((_, i) => threads[i] === doomedThread);
    const survivors = clients.filter((_, i) => threads[i] !== doomedThread);
    const doomedCodes = Promise.all(doomed.map(closeCode));
    clients[0].send('crash');
    t.deepEqual(await doomedCodes, doomed.map(() => 1011));
    t.regex(errors.map((e) => e.message).join('\n'), /worker \d died: worker crash on purpose/);
    // The other worker's connections never noticed.
    for (const ws of survivors) t.is(await request(ws, 'still alive'), 'still alive');
    // New connections are served, on the replacement worker too.
    const fresh = await Promise.all(Array.from({ length: 4 }, () => open(server)));
    const freshThreads = await Promise.all(fresh.map((ws) => request(ws, 'whoami')));
    t.is(new Set(freshThreads).size, 2);
    t.false(freshThreads.includes(doomedThread), 'the dead thread was replaced');
    for (const ws of [...survivors, ...fresh]) ws.close();
  });

  test(`[${codec}] a client that stops reading does not grow the server's buffers without bound`, async (t) => {
    const server = await listen({ port: 0, codec, workers: 1, app: fixture('flood-app'), highWaterMark: 256 * 1024 });
    t.teardown(() => server.close());
    const ws = await open(server);
    const rawSocket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
    rawSocket.pause();
    // Each message asks for 64 KiB: 400 of them would queue 25 MiB without backpressure.
    for (let i = 0; i < 400; i++) {
      ws.send('more');
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    t.true(server.bufferedAmount < 8 * 1024 * 1024, `server holds ${server.bufferedAmount} bytes for one slow reader`);
    let count = 0;
    const all = new Promise<void>((resolve) => ws.on('message', () => { if (++count === 400) resolve(); }));
    rawSocket.resume();
    await all;
    t.is(count, 400, 'every reply arrives once the client reads again');
    ws.close();
  });

  test(`[${codec}] server close with workers sends 1001 to every client and stops the pool`, async (t) => {
    const server = await listen({ port: 0, codec, workers: 2, app: 'echo' });
    const clients = await Promise.all(Array.from({ length: 5 }, () => open(server)));
    const codes = Promise.all(clients.map(closeCode));
    await server.close();
    t.deepEqual(await codes, [1001, 1001, 1001, 1001, 1001]);
    t.is(server.connectionCount, 0);
  });
}

test('a worker that keeps dying at start is restarted with backoff, and the server stays up', async (t) => {
  const errors: string[] = [];
  const server = await listen({ port: 0, workers: 1, app: fixture('worker-hostile-app'), onError: (e) => errors.push(e.message) });
  t.teardown(() => server.close());
  const deathCount = () => errors.filter((message) => /worker 0 died/.test(message)).length;
  await new Promise((resolve) => setTimeout(resolve, 2000));
  // Without backoff a worker that dies at load restarts dozens of times in two seconds.
  t.true(deathCount() <= 8, `restarts back off: ${deathCount()} deaths in 2 s`);
  // On a slow machine a worker takes longer to start and die: wait for the second death.
  for (let waited = 0; deathCount() < 2 && waited < 15_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
  t.true(deathCount() >= 2, `the worker was restarted after dying (${deathCount()} deaths)`);
  const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
  t.is(health.status, 200, 'plain HTTP is still answered');
  // A WebSocket either waits out a restart (503) or lands on a worker that then dies (1011).
  const outcome = await new Promise<string>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    ws.once('unexpected-response', (_request, response) => resolve(`http ${response.statusCode}`));
    ws.once('close', (code) => resolve(`close ${code}`));
    ws.once('error', () => {});
  });
  t.regex(outcome, /^(http 503|close 1011)$/);
});
