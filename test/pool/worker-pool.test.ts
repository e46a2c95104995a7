/**
 * The worker pool on its own: real Piscina workers each running a connection server, sockets a
 * test's net.Server accepted (paused, nothing read) handed to hand(), and the hooks the server
 * would give it recorded by the test. Real clients on loopback.
 */
import test from 'ava';
import { once } from 'node:events';
import net, { type Socket } from 'node:net';
import { WorkerPool, type PoolHooks } from '../../src/pool/pool.js';
import { connectionSettings } from '../helpers/connection-settings.js';
import { closeCode, openClient, request } from '../helpers/ws-client.js';
import { waitFor } from '../helpers/wait.js';

interface Pooled {
  pool: WorkerPool;
  port: number;
  /** Ids the pool reported closed. */
  closedIds: number[];
  /** Ids of the sockets hand() refused. */
  refused: number[];
}

async function startPool(t: { teardown(fn: () => Promise<void> | void): void }, workers: number): Promise<Pooled> {
  const closedIds: number[] = [];
  const refused: number[] = [];
  const hooks: PoolHooks = {
    authorize: async () => true,
    health: async () => ({ status: 'ok' }),
    publish: () => undefined,
    pattern: () => undefined,
    sequence: () => undefined,
    history: () => undefined,
    presence: () => undefined,
    workerLost: () => undefined,
    socketClosed: (id) => closedIds.push(id),
    onError: () => undefined,
    log: () => undefined,
  };
  const pool = new WorkerPool({
    workers, heartbeatTimeoutMs: 30_000, hooks,
    task: { app: 'echo', settings: connectionSettings(), authorize: false, relayPublishes: false, relayPatterns: false, watchEventLoop: false, history: false },
  });
  await pool.started;
  let nextId = 1;
  const listener = net.createServer({ pauseOnConnect: true }, (socket: Socket) => {
    const id = nextId++;
    if (!pool.hand(socket, id)) {
      refused.push(id);
      socket.destroy();
    }
  });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.teardown(async () => {
    listener.close();
    await pool.shutdown(1001, 'test over', 200);
    await pool.close();
  });
  return { pool, port: (listener.address() as net.AddressInfo).port, closedIds, refused };
}

test('hand() gives each socket to the least-loaded worker; loads count sockets until they close, each reported closed once', async (t) => {
  const { pool, port, closedIds, refused } = await startPool(t, 2);
  const clients = [];
  for (let i = 0; i < 5; i++) clients.push(await openClient(port));
  t.deepEqual(refused, []);
  t.deepEqual([...pool.loads].sort(), [2, 3], 'five sockets over two workers, one apart at most');
  for (const ws of clients) t.is(await request(ws, `echo ${ws.url}`), `echo ${ws.url}`);
  for (const ws of clients.slice(0, 3)) ws.close();
  await waitFor(() => closedIds.length === 3);
  t.deepEqual([...closedIds].sort(), [1, 2, 3]);
  t.is(pool.loads.reduce((a, b) => a + b, 0), 2);
  for (const ws of clients.slice(3)) ws.close();
  await waitFor(() => closedIds.length === 5);
  t.deepEqual(pool.loads, [0, 0]);
});

test('threadStats() answers for every worker with its own open connections', async (t) => {
  const { pool, port } = await startPool(t, 2);
  const clients = await Promise.all(Array.from({ length: 4 }, () => openClient(port)));
  await waitFor(async () => (await pool.threadStats()).every((stats) => stats?.connections === 2));
  const stats = await pool.threadStats();
  t.deepEqual(stats.map((s) => s?.connections), [2, 2]);
  for (const ws of clients) ws.close();
});

test('shutdown(code) closes every worker\'s connections with that code', async (t) => {
  const { pool, port } = await startPool(t, 2);
  const clients = await Promise.all(Array.from({ length: 4 }, () => openClient(port)));
  const codes = Promise.all(clients.map(closeCode));
  await pool.shutdown(1012, 'restarting', 30_000);
  t.deepEqual(await codes, [1012, 1012, 1012, 1012]);
});
