/**
 * The echo fast path on real sockets: replies counted straight from the reads (data-frame-reader),
 * large frames written from reused buffers (frame-writer), and the hand-over to the full protocol
 * when the server sends anything else.
 */
import test from 'ava';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { runLoad } from '../../src/load/run.js';
import { listen } from '../../src/server/server.js';
import { assertAllConnectionsClean } from './assertions.js';
import { loadOptions, startWsEcho } from './servers.js';

test('64 KiB echoes, 64 in flight (4 MiB per connection: more than the kernel holds): a reused frame buffer is never written over while the socket still holds it', async (t) => {
  for (const server of [await startWsEcho(), await listen({ host: '127.0.0.1', port: 0, app: 'echo', workers: 0 })]) {
    const url = 'url' in server ? server.url : `ws://127.0.0.1:${server.port}/`;
    t.teardown(() => server.close());
    for (const flags of [['--binary'], ['--payload', 'json']]) {
      const result = await runLoad(loadOptions(url, '--connections', '4', '--size', '65536', '--in-flight', '64', ...flags));
      // A frame changed in the socket's queue comes back changed: echo-mismatch.
      assertAllConnectionsClean(t, result);
      t.true(result.messages.received > 0);
      t.is(result.messages.received, result.messages.sent);
    }
  }
});

async function startServer(onConnection: (ws: import('ws').WebSocket) => void): Promise<{ url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  wss.on('connection', onConnection);
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`,
    close: () => new Promise((resolve) => { for (const c of wss.clients) c.terminate(); wss.close(() => resolve()); }),
  };
}

test('a ping in the middle of the echoes is answered by the protocol, and the echoes go on', async (t) => {
  let pongs = 0;
  const server = await startServer((ws) => {
    let messages = 0;
    ws.on('pong', () => { pongs++; });
    ws.on('message', (data, isBinary) => {
      ws.send(data, { binary: isBinary });
      if (++messages === 3) ws.ping('are you there');
    });
  });
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--connections', '3', '--in-flight', '2', '--duration', '0.5'));
  assertAllConnectionsClean(t, result);
  t.is(pongs, 3, 'every connection answered its ping');
  t.true(result.messages.received > 20, `${result.messages.received} round trips, most after the ping`);
  t.is(result.messages.received, result.messages.sent);
});

test('a large echo changed by one byte deep in a frame split over reads is an echo-mismatch', async (t) => {
  const server = await startServer((ws) => ws.on('message', (data: Buffer, isBinary) => {
    const copy = Buffer.from(data);
    copy[150_000] ^= 1;
    ws.send(copy, { binary: isBinary });
  }));
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--connections', '1', '--size', '300000', '--binary', '--duration', '0.3'));
  t.is(result.messages.received, 0);
  t.true((result.errors['echo-mismatch'] ?? 0) > 0, JSON.stringify(result.errors));
});
