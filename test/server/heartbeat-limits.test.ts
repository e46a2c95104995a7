/**
 * Dead peers and limits, in every mode: the heartbeat pings a silent connection and drops it
 * when nothing answers, a client that answers stays, the idle timeout closes a connection that
 * sends no message, and the connection limits answer 503 and 429 across all workers.
 */
import test from 'ava';
import { once } from 'node:events';
import WebSocket from 'ws';
import { listen, type ServerOptions } from '../../src/main-thread/server.js';
import { Op, RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';

const modeName = (workers: number) => (workers === 0 ? 'inline' : `${workers} worker${workers > 1 ? 's' : ''}`);

async function withServer(options: ServerOptions, run: (port: number, server: Awaited<ReturnType<typeof listen>>) => Promise<void>): Promise<void> {
  const server = await listen({ port: 0, app: 'echo', ...options });
  try {
    await run(server.port, server);
  } finally {
    await server.close();
  }
}

function refusal(port: number): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    ws.once('open', () => resolve(101));
    ws.once('error', () => {});
  });
}

for (const workers of [0, 1, 2]) {
  const mode = modeName(workers);

  test(`[${mode}] a silent peer is pinged, then closed with 1001 and dropped when it never answers`, async (t) => {
    await withServer({ workers, pingIntervalMs: 300, pingTimeoutMs: 300 }, async (port, server) => {
      const peer = await RawClient.connect(port);
      // The peer reads but never writes: no pong, no FIN, like a laptop that was shut.
      const report = await peer.untilClosed(60_000);
      t.false(report.timedOut, 'the server dropped the dead peer');
      t.true(report.closedByServer);
      const opcodes = report.frames.map((frame) => frame.opcode);
      t.deepEqual(opcodes, [Op.PING, Op.CLOSE], 'one ping, then the close frame');
      t.is(report.closeCode, 1001);
      t.is(report.closeFrame!.payload.subarray(2).toString(), 'ping timeout');
      await waitFor(async () => (await server.stats()).connections === 0, 10_000, 50);
      t.is((await server.stats()).connections, 0);
    });
  });

  test(`[${mode}] a client that answers the pings stays connected`, async (t) => {
    // Pinged often; the answer may take long on a loaded machine without the client being dead.
    await withServer({ workers, pingIntervalMs: 100, pingTimeoutMs: 60_000 }, async (port) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`); // ws answers every ping with a pong
      await once(ws, 'open');
      let pings = 0;
      const closedEarly = once(ws, 'close').then(([code]) => { throw new Error(`closed with ${code}`); });
      await Promise.race([closedEarly, new Promise<void>((resolve) => ws.on('ping', () => { if (++pings === 5) resolve(); }))]);
      t.is(ws.readyState, WebSocket.OPEN, 'still open after five heartbeats');
      ws.send('alive');
      t.is(String((await once(ws, 'message'))[0]), 'alive');
      ws.close();
    });
  });

  test(`[${mode}] the idle timeout closes a connection that sends no data message with 1001`, async (t) => {
    await withServer({ workers, pingIntervalMs: 0, idleTimeoutMs: 300 }, async (port) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
      await once(ws, 'open');
      const [code, reason] = await once(ws, 'close') as [number, Buffer];
      t.is(code, 1001);
      t.is(String(reason), 'idle timeout');
    });
  });

  test(`[${mode}] past --max-connections new connections get 503, past --max-connections-per-ip 429, counted`, async (t) => {
    await withServer({ workers, maxConnections: 3 }, async (port, server) => {
      const clients = await Promise.all([1, 2, 3].map(async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
        await once(ws, 'open');
        return ws;
      }));
      t.is(await refusal(port), 503);
      const health = await (await fetch(`http://127.0.0.1:${port}/healthz`)).json() as { status: string; admission: { refusedMaxConnections: number } };
      t.is(health.status, 'ok', '/healthz is still answered at the limit');
      t.true(health.admission.refusedMaxConnections >= 1);
      const closed = once(clients[0], 'close');
      clients[0].close();
      await closed;
      // The slot is given back once the server has seen the close: retry until it has.
      let status = 0;
      for (let attempt = 0; attempt < 2000 && status !== 101; attempt++) {
        status = await refusal(port);
        if (status !== 101) await new Promise((r) => setTimeout(r, 25));
      }
      t.is(status, 101, 'a closed connection frees its place');
      for (const ws of clients) ws.terminate();
    });
    await withServer({ workers, maxConnectionsPerIp: 2 }, async (port) => {
      const a = new WebSocket(`ws://127.0.0.1:${port}/`);
      const b = new WebSocket(`ws://127.0.0.1:${port}/`);
      await Promise.all([once(a, 'open'), once(b, 'open')]);
      t.is(await refusal(port), 429);
      a.terminate();
      b.terminate();
    });
  });
}
