/**
 * Memory per idle connection with permessage-deflate, measured: a server in a child process
 * (inline), N raw clients that each negotiate, send one 2 KiB compressed text message and read
 * its compressed echo, then sit idle. The server collects garbage (--expose-gc) and reports its
 * RSS (/proc/PID/status) and its live memory (V8 heap + external, which counts zlib's and
 * Buffers' native memory), before and after; the deltas divided by N. Modes: deflate off, the
 * defaults (no context takeover), context takeover both ways, and `ws` with perMessageDeflate.
 *
 *   node dist/test/measure/idle-deflate-memory.js [--connections 2000] [--messages 1]
 *
 * Not an ava test (no .test.js): it takes a minute and its numbers go to bench/results/measurements.md.
 */
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { constants, deflateRawSync } from 'node:zlib';
import { WebSocketServer } from 'ws';
import { listen } from '../../src/main-thread/server.js';
import { answerMemorySamples, idleGrowthPerConnection } from './child-memory.js';

const MODES = {
  off: { deflate: false },
  defaults: { deflate: true },
  takeover: { deflate: { serverNoContextTakeover: false, clientNoContextTakeover: false } },
  'ws-deflate': undefined,
} as const;
type Mode = keyof typeof MODES;

const script = fileURLToPath(import.meta.url);

async function serve(mode: Mode): Promise<void> {
  let port: number;
  if (mode === 'ws-deflate') {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true });
    await once(wss, 'listening');
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    port = (wss.address() as net.AddressInfo).port;
  } else {
    const server = await listen({ host: '127.0.0.1', port: 0, app: 'echo', workers: 0, ...MODES[mode] });
    port = server.port;
  }
  console.log(`port ${port}`);
  answerMemorySamples();
}

interface Sample { rss: number; live: number }

/** One client: handshake offering permessage-deflate, `messages` messages (compressed if agreed), each after the echo of the one before. */
function openClient(port: number, text: string, messages: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const key = randomBytes(16).toString('base64');
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    let upgraded = false;
    let compressed = false;
    let echoed = 0;
    socket.on('error', reject);
    socket.on('connect', () => socket.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
      + `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (!upgraded) {
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = received.subarray(0, end).toString();
        if (!head.startsWith('HTTP/1.1 101')) return reject(new Error('no 101'));
        upgraded = true;
        received = received.subarray(end + 4);
        compressed = /^sec-websocket-extensions: permessage-deflate/im.test(head);
        socket.write(textFrame(text, compressed));
      }
      // The server's frames are unmasked: a 2- or 4-byte header, then the payload.
      while (received.length >= 2) {
        const length7 = received[1]! & 0x7f;
        const headerBytes = length7 === 126 ? 4 : 2;
        if (received.length < headerBytes) return;
        const size = headerBytes + (length7 === 126 ? received.readUInt16BE(2) : length7);
        if (received.length < size) return;
        received = received.subarray(size);
        if (++echoed < messages) {
          socket.write(textFrame(text, compressed));
          continue;
        }
        socket.removeAllListeners('data');
        socket.pause();
        resolve(socket);
        return;
      }
    });
  });
}

/** A masked text frame (mask key 0) holding `text`, compressed (RSV1) or not. */
function textFrame(text: string, compressed: boolean): Buffer {
  const payload = compressed ? deflateRawSync(Buffer.from(text), { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4) : Buffer.from(text);
  const length = payload.length;
  const byte0 = compressed ? 0xc1 : 0x81;
  const header = length < 126 ? Buffer.from([byte0, 0x80 | length]) : Buffer.from([byte0, 0x80 | 126, length >> 8, length & 0xff]);
  return Buffer.concat([header, Buffer.alloc(4), payload]);
}

async function measure(mode: Mode, connections: number, messages: number): Promise<Sample> {
  const text = Array.from({ length: 100 }, (_, i) => `{"seq":${i},"ok":true}`).join(',').padEnd(2048, ' ');
  const growth = await idleGrowthPerConnection([script, '--serve', mode], connections, (port) => openClient(port, text, messages));
  return { rss: growth.rss, live: growth.heapUsed + growth.external };
}

const args = process.argv.slice(2);
if (args[0] === '--serve') {
  await serve(args[1] as Mode);
} else {
  const option = (name: string, fallback: number): number => {
    const at = args.indexOf(name);
    return at >= 0 ? Number(args[at + 1]) : fallback;
  };
  const connections = option('--connections', 2000);
  const messages = option('--messages', 1);
  console.log(`memory per idle connection, ${connections} connections, each after ${messages} 2 KiB compressed message(s) and echoes (Node ${process.version})`);
  for (const mode of Object.keys(MODES) as Mode[]) {
    const { rss, live } = await measure(mode, connections, messages);
    console.log(`${mode.padEnd(12)} RSS ${(rss / 1024).toFixed(2)} KiB, live (heap + external) ${(live / 1024).toFixed(2)} KiB`);
  }
}
