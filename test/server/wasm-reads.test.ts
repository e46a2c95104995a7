/**
 * Reads straight into WASM memory (src/server/wasm-reads.ts) and their fallback, the 'data'
 * path: on real sockets, which path each kind of socket takes, that every byte arrives in order
 * in both, and that many connections sharing one thread's read area each get their own bytes.
 */
import test from 'ava';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { createWasmCodec, READ_AREA_BYTES } from '../../src/codec/wasm-codec.js';
import { JsCodec } from '../../src/codec/js-codec.js';
import { readIntoMemory, memoryReadsSupported } from '../../src/server/wasm-reads.js';
import { SocketLink, type LinkOwner } from '../../src/server/socket-io.js';
import { SendBudget } from '../../src/server/send-budget.js';
import { listen } from '../../src/main-thread/server.js';
import { makeCertificate } from '../helpers/certificate.js';
import { RawClient, binary, text, pattern, Op } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';

const certificate = makeCertificate('wasm-reads');
test.after.always(() => certificate.remove());

/** A TCP server on 127.0.0.1 whose accepted sockets go to `onSocket`, and a client connected to it. */
async function socketPair(onSocket: (socket: Socket) => void): Promise<{ client: Socket; close: () => void }> {
  const server = net.createServer({ pauseOnConnect: true }, onSocket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  return { client, close: () => { client.destroy(); server.close(); } };
}

/** Writes `bytes` in `pieces` writes, a turn apart, so the server sees several reads. */
async function writeInPieces(socket: Socket, bytes: Buffer, pieces: number): Promise<void> {
  const size = Math.ceil(bytes.length / pieces);
  for (let at = 0; at < bytes.length; at += size) {
    await new Promise<void>((resolve) => socket.write(bytes.subarray(at, at + size), () => resolve()));
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test('this Node supports reading into memory of our own', (t) => {
  t.true(memoryReadsSupported);
});

test('a plain socket reads straight into the WASM read area; every byte arrives in order; end still comes', async (t) => {
  const area = createWasmCodec().readArea();
  t.is(area.length, READ_AREA_BYTES);
  const received: Buffer[] = [];
  let installed = false;
  let inArea = true;
  let ended!: Promise<unknown>;
  const { client, close } = await socketPair((socket) => {
    installed = readIntoMemory(socket, area, (nread) => {
      // The bytes are where the kernel put them: in the area, which is WASM linear memory.
      inArea &&= nread <= area.length;
      received.push(Buffer.from(area.subarray(0, nread)));
    });
    ended = once(socket, 'end');
    socket.resume();
  });
  t.teardown(close);
  const sent = pattern(300_000, 5);
  await writeInPieces(client, sent, 7);
  client.end();
  await waitFor(() => ended !== undefined);
  await ended;
  t.true(installed);
  t.true(inArea);
  t.true(received.length >= 2, 'several reads');
  t.true(Buffer.concat(received).equals(sent));
});

test('a read callback returning false pauses the socket; resume() reads the rest', async (t) => {
  const area = createWasmCodec().readArea();
  let total = 0;
  let reads = 0;
  let serverSocket!: Socket;
  const { client, close } = await socketPair((socket) => {
    serverSocket = socket;
    readIntoMemory(socket, area, (nread) => {
      total += nread;
      reads++;
      return false; // pause after every read
    });
    socket.resume();
  });
  t.teardown(close);
  client.write(pattern(200_000, 9));
  await waitFor(() => reads === 1);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(reads, 1, 'paused after the first read');
  while (total < 200_000) {
    const before = reads;
    serverSocket.resume();
    await waitFor(() => reads > before);
    t.true(reads > before);
  }
  t.is(total, 200_000);
});

test('sockets that must keep the data path are refused, unchanged: TLS, bytes already buffered, already installed, no area', async (t) => {
  const area = createWasmCodec().readArea();
  t.is(new JsCodec().readArea(), undefined);
  const verdicts: Record<string, boolean> = {};
  const { client, close } = await socketPair((socket) => {
    verdicts.empty = readIntoMemory(socket, new Uint8Array(0), () => undefined);
    socket.unshift(Buffer.from('already read'));
    verdicts.buffered = readIntoMemory(socket, area, () => undefined);
    socket.read(); // drop it again
    verdicts.first = readIntoMemory(socket, area, () => undefined);
    verdicts.twice = readIntoMemory(socket, area, () => undefined);
    const secure = new tls.TLSSocket(new net.Socket(), { isServer: true, secureContext: tls.createSecureContext(certificate) });
    verdicts.tls = readIntoMemory(secure, area, () => undefined);
    secure.destroy();
    socket.destroy();
  });
  t.teardown(close);
  await waitFor(() => 'tls' in verdicts);
  t.deepEqual(verdicts, { empty: false, buffered: false, first: true, twice: false, tls: false });
});

/** An owner for a link under test: its reads go to `receive`, its other events are ignored. */
function linkOwner(receive: (chunk: Uint8Array) => void): LinkOwner {
  return { receive, drain: () => undefined, linkClosed: () => undefined, linkOverflowed: () => undefined, linkBackpressured: () => undefined };
}

test('SocketLink reads into memory when given an area, and through data events without one; both deliver every byte', async (t) => {
  for (const withArea of [true, false]) {
    const area = withArea ? createWasmCodec().readArea() : undefined;
    const received: Buffer[] = [];
    let link!: SocketLink;
    const { client, close } = await socketPair((socket) => {
      link = new SocketLink(socket, { highWaterMark: 1 << 20, sendQueueLimit: 2 << 20, closeTimeoutMs: 1000, budget: new SendBudget(0, () => []) },
        linkOwner((chunk) => received.push(Buffer.from(chunk))));
      link.startReading(area);
      socket.resume(); // accepted paused, as the server's sockets are; the server resumes them too
    });
    t.teardown(close);
    const sent = pattern(150_000, 3);
    await writeInPieces(client, sent, 5);
    await waitFor(() => Buffer.concat(received).length === sent.length);
    t.is(link.readsIntoMemory, withArea);
    t.true(Buffer.concat(received).equals(sent), withArea ? 'read into memory' : 'data events');
  }
});

/**
 * Many connections of one thread share its read area: each sends messages split at odd offsets
 * (partial headers and payloads spanning reads), interleaved with the others' writes.
 */
for (const workers of [0, 1]) {
  for (const codec of ['wasm', 'js'] as const) {
    test(`interleaved connections with split frames each get their own messages back [${codec}, ${workers === 0 ? 'inline' : '1 worker'}]`, async (t) => {
      const server = await listen({ port: 0, app: 'echo', workers, codec });
      t.teardown(() => server.close());
      const clients = await Promise.all(Array.from({ length: 12 }, () => RawClient.connect(server.port)));
      t.teardown(() => { for (const client of clients) client.destroy(); });
      const messages = clients.map((_, i) => [
        pattern(10 + i, i), pattern(70_000 + 13 * i, i + 1), Buffer.from(`text ${i} ✓`), pattern(200_000 + i, i + 2),
      ]);
      const wires = messages.map((list) => Buffer.concat(list.map((m, j) => (j === 2 ? text(m) : binary(m)))));
      // Round-robin writes of prime-sized pieces: every connection's frames cross read boundaries.
      const offsets = clients.map(() => 0);
      for (let round = 0; offsets.some((at, i) => at < wires[i].length); round++) {
        await Promise.all(clients.map((client, i) => {
          const size = [3, 1021, 7919, 65_537][(round + i) % 4];
          const piece = wires[i].subarray(offsets[i], offsets[i] + size);
          offsets[i] += piece.length;
          return piece.length > 0 ? client.send(piece) : undefined;
        }));
      }
      for (const [i, client] of clients.entries()) {
        const echoed = await client.nextFrames(messages[i].length, 60_000);
        for (const [j, frame] of echoed.entries()) {
          t.is(frame.opcode, j === 2 ? Op.TEXT : Op.BINARY);
          t.true(frame.payload.equals(messages[i][j]), `connection ${i} message ${j}`);
        }
      }
    });
  }
}

test('every write made while handling one read leaves in one write, on both read paths', async (t) => {
  for (const withArea of [true, false]) {
    const area = withArea ? createWasmCodec().readArea() : undefined;
    const calls: number[] = []; // chunks per _write / _writev call
    let reads = 0;
    const { client, close } = await socketPair((socket) => {
      const internals = socket as unknown as { _writev(chunks: unknown[], cb: () => void): void; _write(chunk: unknown, encoding: string, cb: () => void): void };
      const writev = internals._writev.bind(socket);
      const write = internals._write.bind(socket);
      internals._writev = (chunks, cb) => { calls.push(chunks.length); writev(chunks, cb); };
      internals._write = (chunk, encoding, cb) => { calls.push(1); write(chunk, encoding, cb); };
      const link: SocketLink = new SocketLink(socket, { highWaterMark: 1 << 20, sendQueueLimit: 2 << 20, closeTimeoutMs: 1000, budget: new SendBudget(0, () => []) },
        linkOwner(() => {
          reads++;
          for (let i = 0; i < 3; i++) link.write(Buffer.from(`reply ${i} `));
        }));
      link.startReading(area);
      socket.resume();
    });
    t.teardown(close);
    let answer = '';
    client.on('data', (data) => { answer += data; });
    client.write('one read');
    await waitFor(() => answer.length === 3 * 'reply 0 '.length);
    t.is(answer, 'reply 0 reply 1 reply 2 ');
    t.is(reads, 1);
    t.deepEqual(calls, [1], withArea ? 'read into memory' : 'data events');
  }
});

for (const codec of ['wasm', 'js'] as const) {
  test(`handleUpgrade from another HTTP server: frames that came with the request, then later reads, echo in order [${codec}]`, async (t) => {
    const server = await listen({ port: 0, app: 'echo', workers: 0, codec });
    t.teardown(() => server.close());
    const http = createHttpServer((_request, response) => response.end());
    http.on('upgrade', (request, socket, head) => server.handleUpgrade(request, socket, head));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    t.teardown(() => http.close());
    const hostPort = (http.address() as net.AddressInfo).port;
    const large = pattern(100_000, 4);
    // The head ends inside the large frame's header: the rest comes in the next reads.
    const headFrames = Buffer.concat([text('with the request'), binary(large)]);
    const client = await RawClient.connect(hostPort, { head: headFrames.subarray(0, text('with the request').length + 3) });
    t.teardown(() => client.destroy());
    await client.sendChunked(headFrames.subarray(text('with the request').length + 3), 30_000);
    await client.send(text('after'));
    const [first, second, third] = await client.nextFrames(3, 60_000);
    t.is(first.payload.toString(), 'with the request');
    t.true(second.payload.equals(large));
    t.is(third.payload.toString(), 'after');
  });
}
