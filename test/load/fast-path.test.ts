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
import { listen } from '../../src/main-thread/server.js';
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

test('a ping in the middle of the echoes is answered by the protocol, and the echoes after it take the fast path again', async (t) => {
  let pongs = 0;
  const server = await startServer((ws) => {
    let messages = 0;
    ws.on('pong', () => { pongs++; });
    ws.on('message', (data, isBinary) => {
      ws.send(data, { binary: isBinary });
      // Three pings per connection, each between echoes, early enough that any run reaches them.
      if (++messages % 2 === 0 && messages <= 6) ws.ping('are you there');
    });
  });
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--connections', '3', '--in-flight', '2', '--duration', '1'));
  assertAllConnectionsClean(t, result);
  t.is(pongs, 9, 'every connection answered its three pings');
  t.true(result.messages.received > 3 * 6, `${result.messages.received} round trips, some after the pings`);
  t.is(result.messages.received, result.messages.sent);
  // The protocol reads only what came in the same read as a ping (at most the 2 in flight, twice
  // if the ping's bytes were split over reads); had the reader been dropped it would read them all.
  t.true(result.messages.slowPath <= 9 * 2 * 2, `${result.messages.slowPath} of ${result.messages.received} replies read by the protocol`);
});

test('a fragmented message from the server goes through the protocol, and the data frames after it take the fast path again', async (t) => {
  const server = await startServer((ws) => {
    let messages = 0;
    ws.on('message', (data: Buffer, isBinary) => {
      if (++messages === 5) {
        // The reply in three fragments (RFC 6455 §5.4), a ping between the second and the third.
        ws.send(data.subarray(0, 4), { binary: isBinary, fin: false });
        ws.send(data.subarray(4, 8), { binary: isBinary, fin: false });
        ws.ping();
        ws.send(data.subarray(8), { binary: isBinary, fin: true });
      } else {
        ws.send(data, { binary: isBinary });
      }
    });
  });
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--connections', '2', '--in-flight', '1', '--duration', '0.5'));
  assertAllConnectionsClean(t, result);
  t.is(result.messages.received, result.messages.sent);
  t.true(result.messages.received > 10, `${result.messages.received} round trips, most after the fragmented one`);
  // With one in flight, the fragmented reply is each connection's only message in the protocol's reads.
  t.is(result.messages.slowPath, 2, `${result.messages.slowPath} of ${result.messages.received} replies read by the protocol`);
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
