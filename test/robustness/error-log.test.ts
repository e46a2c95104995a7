/**
 * Application errors are logged a few per kind and window, the rest counted: a
 * client that makes the application throw at every message must not flood the log.
 */
import test from 'ava';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { ErrorLog } from '../../src/apps/error-log.js';
import { listen } from '../../src/main-thread/server.js';
import { waitFor } from '../helpers/wait.js';

const throwingApp = fileURLToPath(new URL('../fixtures/throwing-app.js', import.meta.url));

function thrownAt(message: string): Error {
  return new Error(message); // one place: errors made here are of one kind
}

test('past its burst a kind of error is counted, and the count is logged when the window ends', async (t) => {
  const lines: string[] = [];
  const log = new ErrorLog((line) => lines.push(line), { burst: 3, windowMs: 50 });
  for (let i = 0; i < 10; i++) log.report(thrownAt(`failure at position ${i}`), `connection ${i}: `);
  log.report(new TypeError('another kind'));
  t.is(lines.length, 4);
  t.true(lines[0]!.startsWith('connection 0: Error: failure at position 0\n    at thrownAt'));
  t.true(lines[3]!.startsWith('TypeError: another kind'));
  await waitFor(() => lines.length === 5, 10_000, 10);
  t.regex(lines[4]!, /^7 more like: Error: failure at position # \(not logged, in the last 0.05 s\)$/);
  // A new window logs again.
  log.report(thrownAt('failure at position 99'));
  t.is(lines.length, 6);
});

test('errors of more kinds than it tracks are counted together', async (t) => {
  const lines: string[] = [];
  const log = new ErrorLog((line) => lines.push(line), { burst: 1, windowMs: 50 });
  // Each kind thrown from a different place: the stack's first frame differs.
  const errors = Array.from({ length: 105 }, (_, i) => {
    const error = new Error('kind');
    error.stack = `Error: kind\n    at place${'x'.repeat(i)} (file.js)`;
    return error;
  });
  for (const error of errors) log.report(error);
  t.is(lines.length, 100);
  await waitFor(() => lines.length === 101, 10_000, 10);
  t.is(lines[100], '5 errors of other kinds (not logged, in the last 0.05 s)');
});

for (const workers of [0, 1]) {
  test(`[${workers === 0 ? 'inline' : '1 worker'}] twenty connections hitting one application bug log five stacks and a count`, async (t) => {
    const lines: string[] = [];
    const server = await listen({ port: 0, app: throwingApp, workers, log: (line) => lines.push(line) });
    t.teardown(() => server.close());
    for (let i = 0; i < 20; i++) {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
      await once(ws, 'open');
      const closed = once(ws, 'close');
      ws.send('boom');
      t.is((await closed)[0], 1011);
    }
    await waitFor(() => lines.length === 6, 30_000, 50);
    t.is(lines.filter((line) => line.includes('Error: handler failure on purpose\n')).length, 5);
    t.regex(lines[5]!, / error application_error: 15 more like: .*handler failure on purpose \(not logged, in the last 10 s\)$/);
  });
}
