/**
 * Memory per idle connection, and where it goes: a server in a child process, N raw clients that
 * each finish the handshake, send one 5-byte text message and read its echo, then sit idle. The
 * server collects garbage twice (--expose-gc) and reports its RSS (/proc/self/status), its V8
 * heap in use and committed (heapUsed, heapTotal) and its external memory, before and after; the
 * deltas divided by N.
 *
 * Besides our server (inline and with one worker) and `ws`, floors that no Node server with a
 * net.Socket per connection can go below: `net` holds each accepted socket and answers its first
 * bytes with a fixed line; `net-worker` does the same in a worker the main thread moves each
 * socket to (what moving a socket costs by itself); `http` is node:http's upgrade event
 * answered with a 101.
 * `--flags=…` runs every child with those Node flags (the CLI's are `--max-semi-space-size=1`):
 * what the young generation left grown by the connection storm adds shows as heapTotal above
 * heapUsed.
 *
 *   node dist/test/measure/idle-memory.js [--connections 10000] [--flags=--max-semi-space-size=1] [modes…]
 *
 * Not an ava test (no .test.js): it takes a minute and its numbers go to bench/results/measurements.md.
 */
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { WebSocketServer } from 'ws';
import { computeAccept } from '../../src/handshake/handshake.js';
import { listen } from '../../src/main-thread/server.js';
import { detachForMove, socketAround, type MovedSocket } from '../../src/pool/moved-socket.js';
import { answerMemorySamples, idleGrowthPerConnection, type MemorySample } from './child-memory.js';

const MODES = ['net', 'net-worker', 'http', 'ws', 'inline', 'worker'] as const;
type Mode = typeof MODES[number];

const script = fileURLToPath(import.meta.url);

/** The server side, in the child: listens, prints its port, answers each stdin line with a sample. */
async function serve(mode: Mode): Promise<void> {
  const held: net.Socket[] = [];
  let port: number;
  if (mode === 'net-worker') {
    // The same floor with each socket moved to a worker (as --workers moves it: its handle).
    const worker = new Worker(new URL(import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: 3 } });
    const server = net.createServer({ pauseOnConnect: true }, (socket) => {
      const moved = detachForMove(socket)!;
      worker.postMessage(moved, [moved.handle as never]);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  } else if (mode === 'net') {
    const server = net.createServer((socket) => {
      held.push(socket);
      socket.on('error', () => {});
      socket.once('data', () => socket.write('HTTP/1.1 101 Switching Protocols\r\n\r\n'));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  } else if (mode === 'http') {
    const server = createHttpServer();
    server.on('upgrade', (request, socket: net.Socket) => {
      const accept = computeAccept(String(request.headers['sec-websocket-key']));
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      socket.on('error', () => {});
      held.push(socket);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  } else if (mode === 'ws') {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    port = (wss.address() as AddressInfo).port;
  } else {
    const server = await listen({ host: '127.0.0.1', port: 0, app: 'echo', workers: mode === 'worker' ? 1 : 0 });
    port = server.port;
  }
  console.log(`port ${port}`);
  answerMemorySamples();
}

/** One client: the handshake, then (for WebSocket servers) one masked text frame and its echo. */
function openClient(port: number, echoes: boolean): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    let upgraded = false;
    socket.on('error', reject);
    socket.on('connect', () => socket.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
      + `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`));
    const done = () => {
      socket.removeAllListeners('data');
      socket.pause();
      resolve(socket);
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (!upgraded) {
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!received.subarray(0, 12).toString().startsWith('HTTP/1.1 101')) return reject(new Error('no 101'));
        upgraded = true;
        received = received.subarray(end + 4);
        if (!echoes) return done();
        socket.write(Buffer.from([0x81, 0x85, 0, 0, 0, 0, ...Buffer.from('hello')]));
      }
      if (received.length >= 7) done();
    });
  });
}

function measure(mode: Mode, connections: number, flags: string[]): Promise<MemorySample> {
  const echoes = mode !== 'net' && mode !== 'net-worker' && mode !== 'http';
  return idleGrowthPerConnection([...flags, script, '--serve', mode], connections, (port) => openClient(port, echoes));
}


/** net-worker's worker: holds each socket it is given and answers its first bytes. */
function holdMovedSockets(): void {
  const held: net.Socket[] = [];
  parentPort!.on('message', (moved: MovedSocket) => {
    const socket = socketAround(moved);
    held.push(socket);
    socket.on('error', () => {});
    socket.once('data', () => socket.write('HTTP/1.1 101 Switching Protocols\r\n\r\n'));
    socket.resume();
  });
}

const args = process.argv.slice(2);
if (!isMainThread) {
  holdMovedSockets();
} else if (args[0] === '--serve') {
  await serve(args[1] as Mode);
} else {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { connections: { type: 'string' }, flags: { type: 'string' } } });
  const connections = Number(values.connections ?? 10_000);
  const flags = values.flags === undefined ? [] : values.flags.split(' ').filter((flag) => flag !== '');
  const modes = positionals.length === 0 ? MODES : positionals.filter((mode): mode is Mode => (MODES as readonly string[]).includes(mode));
  console.log(`memory per idle connection, ${connections} held (Node ${process.version}${flags.length > 0 ? `, ${flags.join(' ')}` : ''}), KiB`);
  const kib = (bytes: number) => (bytes / 1024).toFixed(2).padStart(6);
  for (const mode of modes) {
    const { rss, heapUsed, heapTotal, external } = await measure(mode, connections, flags);
    console.log(`${mode.padEnd(10)} RSS ${kib(rss)}  heap used ${kib(heapUsed)}  heap committed ${kib(heapTotal)}  external ${kib(external)}`);
  }
}
