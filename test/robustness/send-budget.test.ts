/** SendBudget on its own: which connections the thread-wide limit closes, and with what. */
import test from 'ava';
import { once } from 'node:events';
import WebSocket from 'ws';
import { SendBudget, type BudgetedConnection } from '../../src/server/send-budget.js';
import { listen } from '../../src/server/server.js';

function connection(queued: number, closing = false): BudgetedConnection & { closedWith?: [number, string] } {
  return {
    queued, closing,
    close(code, reason) { this.closedWith = [code, reason]; },
  };
}

test('past its limit, the largest queues are closed with 1013 until the rest fits; closing ones are not counted', (t) => {
  const connections = [connection(5), connection(40), connection(30), connection(100, true), connection(20)];
  const budget = new SendBudget(60, () => connections);
  budget.enforce();
  t.deepEqual(connections.map((c) => c.closedWith?.[0]), [undefined, 1013, undefined, undefined, undefined]);
  t.is(connections[1]!.closedWith?.[1], 'server send buffers full');
  t.deepEqual(budget.stats, { closedSendQueueFull: 0, closedBufferLimit: 1 });
});

test('under the limit, or with no limit (0), nothing is closed', (t) => {
  const connections = [connection(50), connection(50)];
  new SendBudget(100, () => connections).enforce();
  new SendBudget(0, () => connections).overHighWater();
  t.true(connections.every((c) => c.closedWith === undefined));
});

test('checks asked for in one turn are summed once, on the next turn', async (t) => {
  let sums = 0;
  const connections = [connection(80), connection(70)];
  const budget = new SendBudget(100, () => { sums++; return connections; });
  for (let i = 0; i < 50; i++) budget.overHighWater();
  t.is(sums, 0);
  await new Promise((resolve) => setImmediate(resolve));
  t.is(sums, 1);
  t.is(budget.stats.closedBufferLimit, 1);
  t.is(connections[0]!.closedWith?.[0], 1013);
});

test('an overflowing connection is closed with 1013 "send queue full" and counted', (t) => {
  const budget = new SendBudget(0, () => []);
  const overflowing = connection(10);
  budget.overflowed(overflowing);
  t.deepEqual(overflowing.closedWith, [1013, 'send queue full']);
  t.is(budget.stats.closedSendQueueFull, 1);
});

for (const workers of [0, 1]) {
  test(`[${workers === 0 ? 'inline' : '1 worker'}] the queue cap does not limit one message larger than maxPayload to a peer that reads`, async (t) => {
    const server = await listen({ port: 0, workers, app: new URL('../fixtures/loop-sender-app.js', import.meta.url).pathname, maxPayload: 1024, highWaterMark: 16 * 1024 });
    t.teardown(() => server.close());
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    await once(ws, 'open');
    // One 64 KiB message at a time, larger than maxPayload + highWaterMark, each queued alone.
    for (let i = 0; i < 10; i++) {
      ws.send('1');
      const [reply] = await once(ws, 'message');
      t.is((reply as Buffer).length, 64 * 1024);
    }
    t.is((await server.stats()).buffers.closedSendQueueFull, 0);
    ws.close();
  });
}
