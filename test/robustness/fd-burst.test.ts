/**
 * Connections past the fd reserve arriving in bursts (a hundred at once) each get their 503 and
 * are counted, none is dropped unanswered. The server runs with `ulimit -n` in a child process.
 */
import test from 'ava';
import WebSocket from 'ws';
import { get } from 'node:http';
import { cli, startServerProcess } from './server-process.js';
import { attemptUpgrade } from '../helpers/ws-client.js';

/**
 * GET /healthz until it answers with the node's state, and how many tries that took: right after
 * a burst, a probe's own connection may be one the reserve refuses at once (a plain 503), which
 * is the behaviour under test. Each try is a connection refused for want of fds, and counted.
 */
async function settledHealth(port: number): Promise<{ body: Record<string, any>; tries: number }> {
  for (let tries = 1; tries <= 100; tries++) {
    const text = await new Promise<string>((resolve) => {
      const request = get({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => { body += chunk; });
        response.on('end', () => resolve(response.statusCode === 200 ? body : ''));
        response.on('error', () => resolve(''));
      });
      request.on('error', () => resolve(''));
    });
    if (text.startsWith('{')) return { body: JSON.parse(text) as Record<string, any>, tries };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('/healthz never answered with the state');
}

const FD_LIMIT = 256;
const BURSTS = 4;
const BURST = 100;

for (const workers of [0, 2]) {
  const mode = workers === 0 ? 'inline' : `${workers} workers`;
  test(`[${mode}] past the fd reserve, ${BURSTS} bursts of ${BURST} connections at once: every one gets 503, every one is counted`, async (t) => {
    const server = await startServerProcess(t, [cli, 'serve', '--port', '0', '--app', 'echo', '--workers', String(workers)], `ulimit -n ${FD_LIMIT};`);
    const open: WebSocket[] = [];
    t.teardown(() => { for (const ws of open) ws.terminate(); });
    let first: WebSocket | number | string;
    while (typeof (first = await attemptUpgrade(server.port)) !== 'number' && typeof first !== 'string' && open.length < FD_LIMIT) open.push(first);
    t.is(first, 503, `the first refusal, after ${open.length} connections`);
    const refusedBefore = (await settledHealth(server.port)).body.fds.refused as number;
    const outcomes = new Map<string, number>();
    for (let burst = 0; burst < BURSTS; burst++) {
      const results = await Promise.all(Array.from({ length: BURST }, () => attemptUpgrade(server.port)));
      for (const result of results) {
        const key = typeof result === 'object' ? 'open' : String(result);
        if (typeof result === 'object') open.push(result);
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }
    }
    t.deepEqual(Object.fromEntries(outcomes), { 503: BURSTS * BURST });
    const { body, tries } = await settledHealth(server.port);
    // Each /healthz probe's own connection is one more refusal, the one that read the state included.
    t.is(body.fds.refused - refusedBefore, BURSTS * BURST + tries, 'every refusal counted');
    t.true(body.fds.refusedAtOnce > 0, 'bursts larger than the reserve were answered at once');
    t.is(body.connections, open.length, 'the connections held are still served');
  });
}
