/**
 * Asynchronous application errors: inline under the CLI they are logged and
 * survived, connections included; with workers they cost one worker's connections (1011) and
 * the worker is replaced; a program that embeds the server keeps its own process's policy.
 */
import test from 'ava';
import WebSocket from 'ws';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { waitFor } from '../helpers/wait.js';
import { openClient, request } from '../helpers/ws-client.js';
import { cli, fixture, healthz, startServerProcess } from './server-process.js';

const crashingApp = fixture('crashing-app');

const ERRORS = [
  ['a throw in a timer', 'crash', 'worker crash on purpose'],
  ['an unhandled rejection', 'reject', 'rejection on purpose'],
] as const;

for (const [what, command, message] of ERRORS) {
  test(`[inline CLI] ${what} in application code is logged with its stack; the server and that connection keep serving`, async (t) => {
    const server = await startServerProcess(t, [cli, 'serve', '--port', '0', '--workers', '0', '--app', crashingApp]);
    let exited = false;
    void server.exited.then(() => { exited = true; });
    const ws = await openClient(server.port);
    t.teardown(() => ws.terminate());
    ws.send(command);
    await waitFor(() => server.stderr.includes(message), 30_000);
    t.regex(server.stderr, new RegExp(`uncaught error \\(the server keeps running, its connections stay open\\): Error: ${message}\\n\\s+at `));
    t.is(await request(ws, 'still here'), 'still here', 'the connection whose handler scheduled the error is served');
    const fresh = await openClient(server.port);
    t.is(await request(fresh, 'new'), 'new', 'new connections are served');
    fresh.close();
    const { body } = await healthz(server.port);
    t.is(body.uncaughtErrors, 1);
    t.false(exited);
  });

  test(`[1 worker CLI] ${what} costs that worker's connections (1011) and the worker is replaced`, async (t) => {
    const server = await startServerProcess(t, [cli, 'serve', '--port', '0', '--workers', '1', '--app', crashingApp]);
    const ws = await openClient(server.port);
    const closed = once(ws, 'close');
    ws.send(command);
    const [code] = await closed;
    t.is(code, 1011);
    // The replacement takes sockets once it runs; until then the main thread answers 503.
    let fresh: WebSocket | undefined;
    await waitFor(async () => {
      fresh = await openClient(server.port).catch(() => undefined);
      return fresh !== undefined;
    }, 60_000);
    t.is((await healthz(server.port)).body.pool.restarts, 1);
    if (fresh === undefined) return t.fail('no worker took a connection after the first one failed');
    t.is(await request(fresh, 'new'), 'new');
    fresh.close();
  });
}

test('embedded with listen({ workers: 0 }), an uncaught error stays the embedding program\'s: it ends the process', async (t) => {
  const server = await startServerProcess(t, [fixture('serve'), JSON.stringify({ port: 0, workers: 0, app: crashingApp })]);
  const ws = await openClient(server.port);
  ws.on('error', () => { /* the process is gone */ });
  ws.send('crash');
  t.is(await server.exited, 1);
  t.regex(server.stderr, /worker crash on purpose/);
});

test('the CLI\'s default is the isolated mode: one worker per core', async (t) => {
  const { parseServeArgs } = await import('../../src/cli-args.js');
  t.is(parseServeArgs([]).options.workers, availableParallelism());
  const server = await startServerProcess(t, [cli, 'serve', '--port', '0', '--app', crashingApp]);
  const { body } = await healthz(server.port);
  t.is(body.workers.length, availableParallelism());
});
