import test from 'ava';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { listen, type WasmSocketServer } from '../../src/main-thread/server.js';
import type { Application, Connection } from '../../src/apps/app.js';
import { CODEC_KINDS } from '../helpers/codecs.js';

const throwingAppPath = fileURLToPath(new URL('../fixtures/throwing-app.js', import.meta.url));

async function open(server: WasmSocketServer, protocols?: string[]): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, protocols);
  await once(ws, 'open');
  return ws;
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })));
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

for (const codec of CODEC_KINDS) {
  test(`[${codec}] echo returns text as text and binary as binary`, async (t) => {
    const server = await listen({ port: 0, codec, app: 'echo' });
    t.teardown(() => server.close());
    const ws = await open(server);
    ws.send('grüße ✓');
    t.deepEqual(await nextMessage(ws).then((m) => [m.data.toString(), m.isBinary]), ['grüße ✓', false]);
    ws.send(Buffer.from([1, 2, 3]));
    t.deepEqual(await nextMessage(ws).then((m) => [[...m.data], m.isBinary]), [[1, 2, 3], true]);
    ws.close(1000, 'done');
    t.deepEqual(await closed(ws), { code: 1000, reason: '' });
  });

  test(`[${codec}] a 1 MiB binary message echoes intact`, async (t) => {
    const server = await listen({ port: 0, codec, app: 'echo' });
    t.teardown(() => server.close());
    const ws = await open(server);
    const payload = Buffer.alloc(1 << 20);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + (i >>> 8)) & 0xff;
    ws.send(payload);
    const echoed = await nextMessage(ws);
    t.true(echoed.isBinary);
    t.true(echoed.data.equals(payload));
    ws.close();
  });

  test(`[${codec}] the first matching client subprotocol is chosen and the app sees it`, async (t) => {
    const server = await listen({ port: 0, codec, app: throwingAppPath, subprotocols: ['chat.v2', 'chat.v1'] });
    t.teardown(() => server.close());
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, ['chat.v1', 'chat.v2']);
    const greeting = nextMessage(ws);
    await once(ws, 'open');
    t.is(ws.protocol, 'chat.v1');
    t.regex((await greeting).data.toString(), /^hello \d+ chat\.v1$/);
    ws.close();
  });

  test(`[${codec}] a throwing handler closes only its own connection with 1011`, async (t) => {
    const errors: Error[] = [];
    const server = await listen({ port: 0, codec, app: throwingAppPath, onError: (e) => errors.push(e) });
    t.teardown(() => server.close());
    const victim = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    const bystander = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    await Promise.all([nextMessage(victim), nextMessage(bystander)]);
    const victimClosed = closed(victim);
    victim.send('boom');
    t.is((await victimClosed).code, 1011);
    t.is(errors[0]?.message, 'handler failure on purpose');
    bystander.send('still here');
    t.is((await nextMessage(bystander)).data.toString(), 'STILL HERE');
    bystander.close();
  });

  test(`[${codec}] closing the server closes every connection with 1001`, async (t) => {
    const closes: number[] = [];
    const app: Application = { close: (_conn, code) => { closes.push(code); } };
    const server = await listen({ port: 0, codec, app });
    const clients = await Promise.all([open(server), open(server), open(server)]);
    const codes = Promise.all(clients.map((ws) => closed(ws).then((c) => c.code)));
    await server.close();
    t.deepEqual(await codes, [1001, 1001, 1001]);
    t.deepEqual(closes, [1001, 1001, 1001], 'the app hears the clients echo 1001');
    t.is((await server.stats()).connections, 0);
  });

  test(`[${codec}] a client that stops reading stops being read from until it drains`, async (t) => {
    const chunk = Buffer.alloc(64 * 1024, 1);
    let connection: Connection | undefined;
    let drains = 0;
    let received = 0;
    const app: Application = {
      open: (conn) => { connection = conn; },
      // Every message is answered with 64 KiB: a non-reading client fills the server's buffer.
      message: (conn) => { received++; conn.send(chunk); },
      drain: () => { drains++; },
    };
    const server = await listen({ port: 0, codec, app, highWaterMark: 256 * 1024 });
    t.teardown(() => server.close());
    const ws = await open(server);
    const rawSocket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
    rawSocket.pause(); // the client stops reading
    // One message per TCP segment: backpressure works per socket read, not inside a read.
    for (let i = 0; i < 400; i++) {
      ws.send('x');
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    // 400 × 64 KiB = 25 MiB would be queued without backpressure.
    t.true(received < 400, `server kept reading: ${received} messages handled`);
    t.true(connection!.bufferedAmount < 16 * 1024 * 1024, `buffered ${connection!.bufferedAmount}`);
    const allEchoed = new Promise<void>((resolve) => {
      let count = 0;
      ws.on('message', () => { if (++count === 400) resolve(); });
    });
    rawSocket.resume();
    await allEchoed;
    t.is(received, 400, 'nothing was lost while paused');
    t.true(drains > 0);
    ws.close();
  });
}
