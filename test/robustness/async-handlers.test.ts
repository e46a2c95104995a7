/**
 * A promise an application handler returns is its connection's: a rejection closes that
 * connection with 1011 and no other, inline and with workers, and is counted and reported.
 * Inline runs in this test's own process, where an unhandled rejection would fail the test run.
 */
import test from 'ava';
import { once } from 'node:events';
import WebSocket from 'ws';
import { listen, type WasmSocketServer } from '../../src/main-thread/server.js';
import { waitFor } from '../helpers/wait.js';
import { closeCode, openClient, request } from '../helpers/ws-client.js';
import { fixture, healthz } from './server-process.js';

const app = fixture('async-failing-app');

for (const workers of [0, 2]) {
  const mode = workers === 0 ? 'inline' : `${workers} workers`;

  test(`[${mode}] an async message handler that rejects closes only its connection with 1011, counted and reported`, async (t) => {
    const errors: Error[] = [];
    const server = await listen({ port: 0, workers, app, onError: (error) => errors.push(error) });
    t.teardown(() => server.close());
    const clients = await Promise.all(Array.from({ length: 6 }, () => openClient(server)));
    const threads = await Promise.all(clients.map((ws) => request(ws, 'whoami')));
    const [victim, ...bystanders] = clients;
    // With workers, the victim's own thread serves bystanders too: the failure is not the thread's.
    t.true(threads.slice(1).includes(threads[0]!), 'a bystander shares the victim\'s thread');
    const victimClosed = closeCode(victim!);
    for (let i = 0; i < 3; i++) t.is(await request(victim!, `before ${i}`), `before ${i}`);
    victim!.send('boom');
    t.is(await victimClosed, 1011);
    await waitFor(() => errors.length > 0);
    t.regex(errors.map((error) => error.message).join('\n'), /async handler failure on purpose/);
    for (const ws of bystanders) t.is(await request(ws, 'still here'), 'still here');
    const { body } = await healthz(server.port);
    t.is(body.applicationErrors, 1);
    t.is(body.connections, bystanders.length);
    if (workers > 0) t.is(body.pool.restarts, 0, 'no worker was replaced');
    for (const ws of bystanders) ws.close();
  });

  test(`[${mode}] async open and close handlers that reject: 1011 for that connection, the rest served`, async (t) => {
    const errors: Error[] = [];
    const server = await listen({ port: 0, workers, app, onError: (error) => errors.push(error) });
    t.teardown(() => server.close());
    const bystander = await openClient(server);
    const failsOpen = new WebSocket(`ws://127.0.0.1:${server.port}/fail-open`);
    t.is(await closeCode(failsOpen), 1011);
    const failsClose = await openClient(server);
    t.is(await request(failsClose, 'close-boom'), 'close-boom');
    failsClose.close(1000);
    t.is(await closeCode(failsClose), 1000, 'the close handshake was already done: the rejection is only counted');
    await waitFor(() => errors.length >= 2);
    const messages = errors.map((error) => error.message).join('\n');
    t.regex(messages, /async open failure on purpose/);
    t.regex(messages, /async close failure on purpose/);
    t.is(await request(bystander, 'still here'), 'still here');
    t.is((await healthz(server.port)).body.applicationErrors, 2);
    bystander.close();
  });
}

test('[inline] a handler that returns null (a value, not a promise) is not a failure', async (t) => {
  const errors: Error[] = [];
  const server = await listen({
    port: 0, app: {
      open: () => null as unknown as void,
      message: (conn, data, isBinary) => { conn.send(data, isBinary); return null as unknown as void; },
    }, onError: (error) => errors.push(error),
  });
  t.teardown(() => server.close());
  const ws = await openClient(server);
  t.is(await request(ws, 'one'), 'one');
  t.is(await request(ws, 'two'), 'two', 'the connection is still open after a null return');
  t.deepEqual(errors, []);
  t.is((await healthz(server.port)).body.applicationErrors, 0);
  ws.close();
});
