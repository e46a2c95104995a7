/**
 * A full file-descriptor table: the server, run with `ulimit -n 200`, keeps a
 * reserve, so past its limit new upgrades get 503 while /healthz still answers and says so;
 * the episode is logged once; once clients leave, new ones are served again.
 */
import test from 'ava';
import WebSocket from 'ws';
import { once } from 'node:events';
import { waitFor } from '../helpers/wait.js';
import { cli, healthz, startServerProcess } from './server-process.js';
import { attemptUpgrade } from '../helpers/ws-client.js';

const FD_LIMIT = 200;

async function echoes(ws: WebSocket, text: string): Promise<boolean> {
  ws.send(text);
  const [reply] = await once(ws, 'message');
  return String(reply) === text;
}

for (const workers of [0, 1]) {
  const mode = workers === 0 ? 'inline' : `${workers} worker`;
  test(`[${mode}] at the fd limit new upgrades get 503, /healthz answers and reports it, and clients are served again once others leave`, async (t) => {
    const server = await startServerProcess(t, [cli, 'serve', '--port', '0', '--app', 'echo', '--workers', String(workers)], `ulimit -n ${FD_LIMIT};`);
    const open: WebSocket[] = [];
    t.teardown(() => { for (const ws of open) ws.terminate(); });
    let refusedWith: number | undefined;
    while (open.length < FD_LIMIT && refusedWith === undefined) {
      const outcome = await attemptUpgrade(server.port);
      if (typeof outcome === 'string') return t.fail(`an upgrade failed: ${outcome}`);
      if (typeof outcome === 'number') refusedWith = outcome;
      else open.push(outcome);
    }
    t.is(refusedWith, 503, `${open.length} connections open`);
    t.true(open.length > FD_LIMIT / 2, `only ${open.length} connections before the limit`);
    // More refusals: still answered, and the episode is logged once.
    for (let i = 0; i < 5; i++) t.is(await attemptUpgrade(server.port), 503);
    const { status, body } = await healthz(server.port);
    t.is(status, 200);
    t.like(body.fds, { limit: FD_LIMIT, exhausted: true, episodes: 1 });
    t.true(body.fds.refused >= 6);
    t.true(await echoes(open[0]!, 'open ones are served'));
    t.is(server.stderr.match(/out of file descriptors/g)?.length, 1, server.stderr);
    // The clients leave: new ones are served again.
    for (const ws of open.splice(0, 20)) ws.terminate();
    let fresh: WebSocket | number | string = 503;
    await waitFor(async () => {
      fresh = await attemptUpgrade(server.port);
      return typeof fresh === 'object';
    }, 30_000);
    if (typeof fresh !== 'object') return t.fail(`still refused with ${fresh} after 20 clients left`);
    open.push(fresh);
    t.true(await echoes(fresh, 'served again'));
    t.like((await healthz(server.port)).body.fds, { exhausted: false, episodes: 1 });
    // The end of the episode is news, not a warning: an info line, on stdout.
    t.regex(server.stdout, /info fds_available: file descriptors available again/);
  });
}
