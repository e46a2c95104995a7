/**
 * The Connection on its own: one per upgraded socket, owning its socket link and its protocol,
 * driven over real loopback sockets by a raw client. The test answers the opening handshake
 * itself and builds the connection's host (codec, broker, send budget) as a connection server
 * would, so that what is checked here is the connection: how few calls a send takes, corked
 * replies, pacing (the send queue, the turn budget), handlers and their failures, closing.
 */
import test from 'ava';
import { once } from 'node:events';
import net, { type Socket } from 'node:net';
import { computeAccept } from '../../src/handshake/handshake.js';
import { Connection, sweepClock, type ConnectionHost } from '../../src/server/connection.js';
import { createCodec } from '../../src/codec/select.js';
import type { CodecKind } from '../../src/codec/codec.js';
import { Broker } from '../../src/pubsub/broker.js';
import { SendBudget } from '../../src/server/send-budget.js';
import { READ_BATCHED_FRAME_MAX } from '../../src/server/socket-io.js';
import type { Application } from '../../src/apps/app.js';
import { listen } from '../../src/main-thread/server.js';
import { RawClient, Op, binary, close, pattern, ping, text } from '../helpers/raw-client.js';
import { CODEC_KINDS } from '../helpers/codecs.js';
import { waitFor } from '../helpers/wait.js';
import { makeCertificate } from '../helpers/certificate.js';
import WebSocket from 'ws';

interface ServeOptions {
  codec?: CodecKind;
  highWaterMark?: number;
  maxPayload?: number;
  /** How long a close frame of ours waits for the peer's (the raw client answers none by itself). */
  closeTimeoutMs?: number;
}

interface Served {
  client: RawClient;
  /** The server side's connection, once the handshake is answered. */
  conn: () => Connection;
  /** Connections the host was told are closed. */
  closed: Connection[];
  /** Handler failures the host was told of. */
  errors: Error[];
  /** Chunks per socket write call on the server side (_write: 1, _writev: its chunk count). */
  writes: number[];
}

/** A loopback server whose one connection is a Connection running `app`, and a raw client on it. */
async function serve(t: { teardown(fn: () => void): void }, app: Application, options: ServeOptions = {}): Promise<Served> {
  const codec = createCodec(options.codec ?? 'wasm');
  const budget = new SendBudget(0, () => []);
  const closed: Connection[] = [];
  const errors: Error[] = [];
  const writes: number[] = [];
  const broker = new Broker({ codec, slowSubscriberBytes: 1 << 20, slowPolicy: 'drop', maxSubscriptions: 100, maxTotalSubscriptions: 1000 });
  const host: ConnectionHost = {
    app, codec, broker, budget,
    linkOptions: { highWaterMark: options.highWaterMark ?? 1 << 20, sendQueueLimit: 64 << 20, closeTimeoutMs: options.closeTimeoutMs ?? 2000, budget },
    maxPayload: options.maxPayload ?? 1 << 20,
    utf8Validator: 'native',
    compressor: undefined,
    handlerFailed: (error) => errors.push(error),
    connectionClosed: (conn) => closed.push(conn),
  };
  let conn: Connection | undefined;
  const server = net.createServer({ pauseOnConnect: true }, (socket: Socket) => {
    countWrites(socket, writes);
    socket.once('data', (request: Buffer) => {
      socket.pause();
      const end = request.indexOf('\r\n\r\n') + 4;
      const key = /sec-websocket-key: *(\S+)/i.exec(request.toString('latin1', 0, end))![1];
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${computeAccept(key)}\r\n\r\n`);
      conn = new Connection(host, socket, {
        id: 1, subprotocol: undefined, data: undefined, negotiated: undefined, reportsClose: true, now: sweepClock(),
        request: { method: 'GET', url: '/', headers: {}, remoteAddress: '127.0.0.1', remotePort: socket.remotePort ?? 0 },
      });
      conn.start(request.subarray(end));
      socket.resume(); // paused above for the handshake; the connection reads from here
    });
    socket.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = await RawClient.connect((server.address() as net.AddressInfo).port);
  await waitFor(() => conn !== undefined);
  t.teardown(() => { client.destroy(); server.close(); });
  writes.length = 0; // the 101 is not the connection's
  return { client, conn: () => conn!, closed, errors, writes };
}

function countWrites(socket: Socket, calls: number[]): void {
  const internals = socket as unknown as { _writev(chunks: unknown[], cb: () => void): void; _write(chunk: unknown, encoding: string, cb: () => void): void };
  const writev = internals._writev.bind(socket);
  const write = internals._write.bind(socket);
  internals._writev = (chunks, cb) => { calls.push(chunks.length); writev(chunks, cb); };
  internals._write = (chunk, encoding, cb) => { calls.push(1); write(chunk, encoding, cb); };
}

const echo: Application = { message: (conn, data, isBinary) => { conn.send(data, isBinary); } };

/** Our own frames (files under src/, as source maps name them, or dist/src/) in a V8 stack trace, innermost first. */
function ourFrames(stack: string): string[] {
  return stack.split('\n').slice(1).filter((line) => /\/src\/[\w/-]+\.[jt]s:/.test(line)).map((line) => line.trim());
}

test('an echo app\'s send reaches socket.write through at most 3 calls of ours (Connection.send, the protocol, the link)', async (t) => {
  const stacks: string[] = [];
  const write = net.Socket.prototype.write;
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 50;
  // A server frame with the marker payload: the echo, not the 101 or another test's bytes.
  net.Socket.prototype.write = function (this: net.Socket, chunk: unknown, ...rest: unknown[]) {
    if (chunk instanceof Uint8Array && Buffer.from(chunk).includes('stack-marker')) stacks.push(new Error('socket.write').stack!);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof write;
  t.teardown(() => { net.Socket.prototype.write = write; Error.stackTraceLimit = limit; });
  const server = await listen({ host: '127.0.0.1', port: 0, app: 'echo', workers: 0 });
  t.teardown(() => server.close());
  const client = await RawClient.connect(server.port);
  t.teardown(() => client.destroy());
  // Frames over READ_BATCHED_FRAME_MAX go to the socket from the send itself (smaller ones are
  // copied into the read's one write when it is handled); a view sent back under 16 KiB is copied
  // into its frame first.
  const marked = (what: string, size: number) => Buffer.concat([Buffer.from(`stack-marker ${what}`), Buffer.alloc(size, 0x2e)]);
  const over = READ_BATCHED_FRAME_MAX + 100;
  const [textual, binaryPayload, large] = [marked('text', over), marked('binary', over), marked('large', 2 * over)];
  await client.send(text(textual.toString()), binary(binaryPayload), binary(large));
  const echoed = await client.nextFrames(3);
  t.deepEqual(echoed.map((f) => f.payload.toString()), [textual.toString(), binaryPayload.toString(), large.toString()]);
  t.is(stacks.length, 3);
  for (const stack of stacks) {
    const ours = ourFrames(stack);
    const app = ours.findIndex((line) => /\/src\/apps\/echo\.[jt]s:/.test(line));
    t.true(app > 0, `the echo app's frame is on the stack:\n${stack}`);
    const between = ours.slice(0, app);
    t.true(between.length <= 3, `calls of ours between the app's send and socket.write:\n${between.join('\n')}`);
    t.regex(between.at(-1)!, /Connection\.send/, 'the first is the connection the app holds');
  }
});

for (const codec of CODEC_KINDS) {
  test(`[${codec}] every reply produced while handling one read leaves in one socket write`, async (t) => {
    const { client, writes } = await serve(t, echo, { codec });
    await client.send(text('one'), binary(Buffer.from('two')), ping('three'), text('four'));
    const frames = await client.nextFrames(4);
    t.deepEqual(frames.map((f) => [f.opcode, f.payload.toString()]), [[Op.TEXT, 'one'], [Op.BINARY, 'two'], [Op.PONG, 'three'], [Op.TEXT, 'four']]);
    t.deepEqual(writes, [1], 'one write: the four frames copied into one buffer');
  });

  test(`[${codec}] a send queue over its high-water mark stops the handling of frames until it drains; the rest follow in order`, async (t) => {
    const highWaterMark = 16 * 1024;
    const reply = 4096;
    let mostQueued = 0;
    const app: Application = {
      message: (conn, data) => {
        // What this handler sees queued: the replies of the frames handled before it in this read.
        mostQueued = Math.max(mostQueued, conn.bufferedAmount);
        conn.send(Buffer.alloc(reply, data[0]));
      },
    };
    const { client } = await serve(t, app, { codec, highWaterMark });
    const count = 200;
    // 200 requests in one write: the server reads many of them at once, and their replies would
    // queue 800 KiB if every frame of a read were handled.
    await client.send(...Array.from({ length: count }, (_, i) => binary(Buffer.from([i]))));
    const frames = await client.nextFrames(count, 60_000);
    t.deepEqual(frames.map((f) => f.payload[0]), Array.from({ length: count }, (_, i) => i), 'every reply, in order');
    t.true(frames.every((f) => f.payload.length === reply));
    t.true(mostQueued <= highWaterMark + reply, `a handler saw ${mostQueued} bytes queued (mark ${highWaterMark})`);
  });

  test(`[${codec}] a read whose handlers spend the turn's budget goes on in a later turn, in order, and other work runs between`, async (t) => {
    const handledInTurn: number[] = [];
    let turn = 0;
    let ticking = true;
    const tick = () => { turn++; if (ticking) setImmediate(tick); };
    setImmediate(tick);
    t.teardown(() => { ticking = false; });
    const app: Application = {
      message: (conn, data) => {
        // A handler that takes 3 ms: eight of them spend the thread's 10 ms budget.
        const until = performance.now() + 3;
        while (performance.now() < until);
        handledInTurn.push(turn);
        conn.send(data);
      },
    };
    const { client } = await serve(t, app, { codec });
    await client.send(...Array.from({ length: 40 }, (_, i) => text(`m${i}`)));
    const frames = await client.nextFrames(40, 60_000);
    t.deepEqual(frames.map((f) => f.payload.toString()), Array.from({ length: 40 }, (_, i) => `m${i}`));
    const turns = new Set(handledInTurn).size;
    t.true(turns >= 3, `40 handlers of 3 ms ran in ${turns} turns`);
  });
}

test('a handler that throws closes its connection with 1011 and tells the host; the close handler sees the peer\'s answer', async (t) => {
  const closes: number[] = [];
  const app: Application = {
    message: () => { throw new Error('handler bug'); },
    close: (_conn, code) => { closes.push(code); },
  };
  const { client, errors, closed, conn } = await serve(t, app);
  await client.send(text('boom'));
  const report = await client.untilClosed();
  t.is(report.closeCode, 1011);
  t.deepEqual(errors.map((e) => e.message), ['handler bug']);
  await waitFor(() => closed.length === 1);
  t.is(closed[0], conn(), 'the host forgets the connection once TCP is closed');
  t.is(closes.length, 1, 'close runs once');
});

test('a promise a handler returns that rejects closes its connection with 1011, never the server', async (t) => {
  const app: Application = { message: async () => { throw new Error('async bug'); } };
  const { client, errors } = await serve(t, app);
  await client.send(text('boom'));
  t.is((await client.untilClosed()).closeCode, 1011);
  t.deepEqual(errors.map((e) => e.message), ['async bug']);
});

test('close(code, reason) sends the close frame; the peer\'s reply ends TCP and the app\'s close sees the code it sent', async (t) => {
  const seen: Array<[number, string]> = [];
  const app: Application = {
    message: (conn, data) => { if (data.toString() === 'bye') conn.close(4000, 'done'); },
    close: (_conn, code, reason) => { seen.push([code, reason]); },
  };
  // Generous: the peer's answer must be what ends it, however loaded the machine.
  const { client, closed } = await serve(t, app, { closeTimeoutMs: 60_000 });
  await client.send(text('bye'));
  const frame = await client.nextFrame();
  t.is(frame.opcode, Op.CLOSE);
  t.is(frame.payload.readUInt16BE(0), 4000);
  t.is(frame.payload.toString('utf8', 2), 'done');
  await client.send(close(4000, 'ok'));
  await client.untilClosed();
  await waitFor(() => closed.length === 1);
  t.deepEqual(seen, [[4000, 'ok']]);
});

test('close() with a code that may not be sent throws a RangeError naming it', async (t) => {
  let thrown: unknown;
  const app: Application = { message: (conn) => { try { conn.close(1006); } catch (error) { thrown = error; } conn.send('still open'); } };
  const { client } = await serve(t, app);
  await client.send(text('x'));
  t.is((await client.nextFrame()).payload.toString(), 'still open');
  t.true(thrown instanceof RangeError);
  t.regex((thrown as Error).message, /close code 1006/);
});

test('terminate() drops TCP without a close frame; the app\'s close sees 1006 and the host is told once', async (t) => {
  const seen: number[] = [];
  const app: Application = { message: (conn) => conn.terminate(), close: (_conn, code) => { seen.push(code); } };
  const { client, closed } = await serve(t, app);
  await client.send(text('x'));
  const report = await client.untilClosed();
  t.is(report.closeFrame, undefined);
  await waitFor(() => closed.length === 1);
  t.deepEqual(seen, [1006]);
  t.is(closed.length, 1);
});

test('a message larger than maxPayload closes with 1009 and is not delivered', async (t) => {
  let delivered = 0;
  const { client } = await serve(t, { message: () => { delivered++; } }, { maxPayload: 1000 });
  await client.send(binary(pattern(1001)));
  t.is((await client.untilClosed()).closeCode, 1009);
  t.is(delivered, 0);
});

test('subscribe and publish go to the host\'s broker: a publish reaches the subscribed connection', async (t) => {
  const app: Application = {
    message: (conn, data) => {
      const [verb, topic] = data.toString().split(' ');
      if (verb === 'sub') conn.send(conn.subscribe(topic) === undefined ? 'subscribed' : 'refused');
      else conn.publish(topic, `news on ${topic}`);
    },
  };
  const { client } = await serve(t, app);
  await client.send(text('sub a.b'));
  t.is((await client.nextFrame()).payload.toString(), 'subscribed');
  await client.send(text('pub a.b'), text('pub a.c'));
  const frame = await client.nextFrame();
  t.is(frame.payload.toString(), 'news on a.b');
});

test('a turn\'s small deliveries leave copied into one buffer, in order with a reply sent between them, and count in bufferedAmount from the reply on until written', async (t) => {
  let counted = -1;
  const app: Application = {
    message: (conn, data) => {
      if (data.toString() === 'sub') {
        conn.send(conn.subscribe('news') === undefined ? 'subscribed' : 'refused');
        return;
      }
      const before = conn.bufferedAmount;
      conn.publish('news', 'first');
      conn.publish('news', 'second');
      conn.send('reply');
      counted = conn.bufferedAmount - before;
      conn.publish('news', 'third');
    },
  };
  const { client, writes } = await serve(t, app);
  await client.send(text('sub'));
  t.is((await client.nextFrame()).payload.toString(), 'subscribed');
  writes.length = 0;
  await client.send(text('go'));
  const frames = await client.nextFrames(4);
  t.deepEqual(frames.map((f) => [f.opcode, f.payload.toString()]), [[Op.TEXT, 'first'], [Op.TEXT, 'second'], [Op.TEXT, 'reply'], [Op.TEXT, 'third']]);
  t.is(counted, (2 + 5) + (2 + 6) + (2 + 5), 'the two deliveries (fanned out before the reply) and the reply, each a 2-byte header and its payload, are queued bytes until the turn ends');
  t.deepEqual(writes, [1], 'one write: the first two deliveries, the reply and the third delivery copied into one buffer');
});

for (const tls of [false, true]) {
  for (const workers of [0, 1]) {
    test(`[${tls ? 'wss' : 'ws'}, ${workers === 0 ? 'inline' : '1 worker'}] with a high-water mark under the socket's own, a connection stopped by a full send queue goes on once it drains`, async (t) => {
      // A worker's socket is rebuilt from a moved handle (a 64 KiB mark of its own); a TLS socket
      // writes through its own stream: either way the queue's flush must restart the reading.
      const certificate = tls ? makeCertificate() : undefined;
      t.teardown(() => certificate?.remove());
      const server = await listen({
        host: '127.0.0.1', port: 0, app: 'echo', workers, highWaterMark: 16 * 1024,
        tls: certificate === undefined ? undefined : { cert: certificate.cert, key: certificate.key },
      });
      t.teardown(() => server.close());
      const ws = new WebSocket(`${tls ? 'wss' : 'ws'}://127.0.0.1:${server.port}/`, { ca: certificate?.cert });
      t.teardown(() => ws.terminate());
      await once(ws, 'open');
      const count = 200;
      const received: number[] = [];
      const all = new Promise<void>((resolve) => ws.on('message', (data: Buffer) => {
        received.push(data[0]);
        if (received.length === count) resolve();
      }));
      for (let i = 0; i < count; i++) ws.send(Buffer.alloc(4096, i));
      await all;
      t.deepEqual(received, Array.from({ length: count }, (_, i) => i & 0xff), 'every echo, in order');
    });
  }
}
