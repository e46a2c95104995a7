/** SendBudget on its own: how it counts queued bytes, and which connections the thread-wide limit drops. */
import test from 'ava';
import { once } from 'node:events';
import WebSocket from 'ws';
import { QUEUED_WRITE_OVERHEAD, SendBudget, type BudgetedConnection } from '../../src/server/send-budget.js';
import { SharedFrame } from '../../src/protocol/shared-frame.js';
import { listen } from '../../src/main-thread/server.js';

interface FakeConnection extends BudgetedConnection { closedWith?: [number, string]; terminated: boolean }

function connection(queued: number, closing = false): FakeConnection {
  return {
    queued, closing, terminated: false,
    close(code, reason) { this.closedWith = [code, reason]; },
    terminate() { this.terminated = true; },
    settleWrites() {},
  };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

test('a shared frame counts once however many queues hold it, and leaves the total with its last holder', (t) => {
  const budget = new SendBudget(0, () => []);
  const frame = new SharedFrame(new Uint8Array(1000));
  const other = new SharedFrame(new Uint8Array(10));
  const seqs = Array.from({ length: 50 }, () => budget.addShared(frame));
  t.true(seqs.every((seq) => seq === seqs[0]));
  const otherSeq = budget.addShared(other);
  t.is(budget.queued, 1000 + 10 + 51 * QUEUED_WRITE_OVERHEAD);
  t.is(budget.heldFrame(seqs[0]!), frame);
  for (let i = 0; i < 49; i++) budget.releaseShared(seqs[0]!);
  t.is(budget.queued, 1000 + 10 + 2 * QUEUED_WRITE_OVERHEAD);
  budget.releaseShared(seqs[0]!);
  t.is(budget.queued, 10 + QUEUED_WRITE_OVERHEAD);
  t.is(budget.heldFrame(otherSeq), other, 'a frame still held is found after an older one went');
  budget.releaseShared(otherSeq);
  t.is(budget.queued, 0);
});

test('past its limit, connections are dropped largest queue first, closing ones before open ones, until the excess is covered', async (t) => {
  const connections = [connection(5), connection(40), connection(30), connection(25, true), connection(20)];
  const budget = new SendBudget(60, () => connections, () => connections.length);
  budget.add(120);
  t.true(connections.every((c) => !c.terminated), 'checked on the next turn, not inside the write');
  await nextTurn();
  // 60 over: the closing one (25), then the largest open one (40).
  t.deepEqual(connections.map((c) => c.terminated), [false, true, false, true, false]);
  t.true(connections.every((c) => c.closedWith === undefined), 'dropped, not sent a close frame behind their queue');
  t.deepEqual(budget.stats, { closedSendQueueFull: 0, closedBufferLimit: 1, releasedClosing: 1 });
});

test('under the limit, or with no limit (0), nothing is dropped', async (t) => {
  const connections = [connection(50), connection(50)];
  const under = new SendBudget(100, () => connections);
  under.add(100);
  const unlimited = new SendBudget(0, () => connections);
  unlimited.add(1e9);
  await nextTurn();
  t.true(connections.every((c) => !c.terminated));
  t.false(unlimited.shedding);
});

test('every enqueue checks the total; the connections are settled and chosen from once per turn however many asked', async (t) => {
  let checks = 0;
  const settled = [0, 0];
  const connections = [connection(80), connection(70)].map((c, i) => ({ ...c, settleWrites() { settled[i]!++; } }));
  const budget = new SendBudget(100, () => { checks++; return connections; });
  for (let i = 0; i < 50; i++) budget.add(3);
  t.is(checks, 0, 'nothing looked at inside the writes');
  await nextTurn();
  t.deepEqual(settled, [1, 1]);
  t.is(budget.stats.closedBufferLimit, 1);
  t.true(connections[0]!.terminated);
  t.false(connections[1]!.terminated);
});

test('broadcasts are shed from 7/8 of the limit, to subscribers past their share of it, and all from 15/16', (t) => {
  const budget = new SendBudget(8000, () => [], () => 10);
  budget.add(7000);
  t.false(budget.shedding);
  budget.add(1);
  t.true(budget.shedding);
  t.false(budget.full);
  t.is(budget.fairShare(), 700);
  budget.add(500);
  t.true(budget.full, 'past 15/16 of the limit');
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
