/**
 * Bursts and edges: deflate amplification across connections, rejecting async handlers, fd
 * bursts past the limit, HTTP pipelining and duplicate Host, each at full size at `--scale 1`,
 * run inline and with `--workers 2`. Same shape as attacks.ts: the attack opens
 * and closes its own raw connections and says what it saw; main.ts measures the server around it.
 */
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { constants, deflateRawSync } from 'node:zlib';
import { APPS } from '../e2e/servers.js';
import { closeAndWait, until, type Attack, type AttackOutcome } from './attacks.js';
import { clientFrame, FrameReader, Op, openRaw } from './raw-ws.js';
import { HOST, probeHealth, sleep } from './target.js';

const MiB = 1024 * 1024;
/** How long after the deflate burst's clients left its RSS is read again. */
const LATER_MS = 15_000;
const scaled = (count: number, scale: number) => Math.max(1, Math.round(count * scale));

/** The server's /healthz as JSON (empty when it did not answer), and how long it took. */
async function health(port: number): Promise<{ status: number | string; body: Record<string, any>; ms: number }> {
  const started = performance.now();
  const { status, body } = await probeHealth(port, 20_000);
  const ms = performance.now() - started;
  if (status !== 200) return { status, body: {}, ms };
  try {
    return { status, body: JSON.parse(body) as Record<string, any>, ms };
  } catch {
    return { status, body: {}, ms };
  }
}

/** RFC 7692: one compressed message (RSV1) whose payload inflates to `inflated` zero bytes. */
function compressedZeros(inflated: number): Buffer {
  const deflated = deflateRawSync(Buffer.alloc(inflated), { finishFlush: constants.Z_SYNC_FLUSH });
  // §7.2.1: the sender removes the sync flush's 0x00 0x00 0xff 0xff.
  const frame = clientFrame(Op.BINARY, deflated.subarray(0, deflated.length - 4));
  frame[0]! |= 0x40;
  return frame;
}

/**
 * (1) 200 connections that never read, each sending one legal 16 KiB message that inflates to
 * 15.9 MiB, all at once, to the echo app with --max-buffered-bytes 128 MiB. /healthz is probed
 * throughout: its slowest answer says whether the node stayed reachable.
 */
const deflateBurst: Attack = {
  id: 'deflate-burst',
  title: '200 non-reading clients × one 16 KiB message inflating to 15.9 MiB (--deflate --max-buffered-bytes 134217728)',
  app: 'echo',
  serveArgs: ['--deflate', '--max-buffered-bytes', String(128 * MiB)],
  modes: ['inline', 'w2'],
  goal: { text: 'RSS growth < 1 GiB', met: (row) => (row.rssPeakKiB - row.rssBeforeKiB) * 1024 < 1024 * MiB },
  async run({ target, scale }): Promise<AttackOutcome> {
    const count = scaled(200, scale);
    const frame = compressedZeros(Math.floor(15.9 * MiB));
    const sockets: Socket[] = [];
    for (let i = 0; i < count; i++) {
      const { socket } = await openRaw(HOST, target.port, { extensions: 'permessage-deflate' });
      socket.pause(); // never read: the echoes pile up in the server
      sockets.push(socket);
    }
    const grantedBefore = (await health(target.port)).body.inflate?.granted ?? 0;
    const started = performance.now();
    for (const socket of sockets) socket.write(frame);
    let slowest = 0;
    let last: Record<string, any> = {};
    const deadline = performance.now() + 120_000;
    while (performance.now() < deadline) {
      const { body, ms } = await health(target.port);
      slowest = Math.max(slowest, ms);
      last = body;
      if ((body.inflate?.granted ?? 0) - grantedBefore >= count && body.inflate?.inUseBytes === 0) break;
      await sleep(250);
    }
    const seconds = (performance.now() - started) / 1000;
    const inflate = last.inflate ?? {};
    const sentBytes = sockets.reduce((sum, s) => sum + s.bytesWritten, 0);
    await sleep(1000);
    await closeAndWait(sockets, true);
    // V8 gives the echoes' memory back at a collection, which an idle server may be seconds from.
    await sleep(LATER_MS);
    const later = target.sampler.sample()?.rssKiB;
    return {
      sentBytes, receivedBytes: 0, connections: count,
      notes: [`${(inflate.granted ?? 0) - grantedBefore} of ${count} messages inflated in ${seconds.toFixed(1)} s`,
        `RSS ${LATER_MS / 1000} s after the clients left: ${later === undefined ? '?' : `${(later / 1024).toFixed(1)} MiB`}`,
        `inflate budget peak ${((inflate.peakBytes ?? 0) / MiB).toFixed(1)} MiB per thread, ${inflate.waited ?? '?'} messages waited`,
        `/healthz slowest answer during the burst ${slowest.toFixed(0)} ms`, `closed for the send budget: ${last.buffers?.closedBufferLimit ?? '?'}`],
    };
  },
};

/**
 * (2) 380 connections sit open; one client sends a message whose async handler rejects, twice a
 * second for 10 s (a new connection each time: its own is closed). Counts the others closed.
 */
const asyncReject: Attack = {
  id: 'async-reject',
  title: 'an async handler rejecting twice a second for 10 s beside 380 open connections',
  app: 'echo',
  setup: { appPath: join(APPS, 'rejecting-echo.js') },
  modes: ['inline', 'w2'],
  goal: { text: 'no other connection closed', met: (row) => row.outcome.notes.some((note) => note.startsWith('0 of ')) },
  async run({ target, scale }): Promise<AttackOutcome> {
    const others = 380;
    const sockets: Socket[] = [];
    let othersClosed = 0;
    for (let i = 0; i < others; i++) {
      const { socket } = await openRaw(HOST, target.port);
      socket.on('data', () => {});
      socket.once('close', () => othersClosed++);
      sockets.push(socket);
    }
    const codes = new Map<string, number>();
    const reject = clientFrame(Op.TEXT, Buffer.from('reject'));
    const deadline = performance.now() + 10_000 * scale;
    let attempts = 0;
    while (performance.now() < deadline) {
      const next = performance.now() + 500;
      attempts++;
      const code = await openRaw(HOST, target.port).then(({ socket, rest }) => new Promise<string>((resolve) => {
        const reader = new FrameReader(() => {});
        const done = () => {
          clearTimeout(timer);
          socket.destroy();
          resolve(reader.closeCode === undefined ? 'no close frame' : String(reader.closeCode));
        };
        const timer = setTimeout(done, 5000);
        reader.push(rest);
        socket.on('data', (chunk: Buffer) => {
          reader.push(chunk);
          if (reader.closeCode !== undefined) done();
        });
        socket.once('close', done);
        socket.write(reject);
      }), (error: Error) => `refused: ${error.message}`);
      codes.set(code, (codes.get(code) ?? 0) + 1);
      await sleep(Math.max(0, next - performance.now()));
    }
    const { body } = await health(target.port);
    const closedMeanwhile = othersClosed;
    const sentBytes = sockets.reduce((sum, s) => sum + s.bytesWritten, 0);
    await closeAndWait(sockets);
    return {
      sentBytes, receivedBytes: 0, connections: others + 1,
      notes: [`${closedMeanwhile} of ${others} other connections closed`,
        `rejecting client: ${[...codes].map(([code, n]) => `${code} ×${n}`).join(', ')} (${attempts} rejections)`,
        `applicationErrors ${body.applicationErrors ?? '?'}, worker restarts ${body.pool?.restarts ?? 0}`],
    };
  },
};

/**
 * (5) The server under `ulimit -n 1024`: connections are held until the first refusal, then
 * 531 more arrive 100 at a time. Each should get its 503.
 */
function fdBurst(openFileLimit: number): Attack {
  const limit = 1024;
  return {
    id: 'fd-burst',
    title: 'ulimit -n 1024: 531 connections past the limit, 100 at a time',
    app: 'echo',
    setup: { fdLimit: limit },
    modes: ['inline', 'w2'],
    goal: { text: 'every one past the limit gets 503', met: (row) => row.outcome.notes.some((note) => note.endsWith('none unanswered')) },
    async run({ target, scale }): Promise<AttackOutcome> {
      const held: Socket[] = [];
      // This process holds both sides' worth of nothing but its own ends: it needs limit + a burst.
      const bound = Math.min(limit + 64, openFileLimit - 256);
      let refusedFirst = false;
      while (!refusedFirst && held.length < bound) {
        const batch = await Promise.allSettled(Array.from({ length: 16 }, () => openRaw(HOST, target.port)));
        for (const result of batch) {
          if (result.status === 'fulfilled') held.push(result.value.socket);
          else refusedFirst = true;
        }
      }
      const past = scaled(531, scale);
      const outcomes = new Map<string, number>();
      for (let sent = 0; sent < past; sent += 100) {
        const burst = await Promise.allSettled(Array.from({ length: Math.min(100, past - sent) }, () => openRaw(HOST, target.port, { timeoutMs: 20_000 })));
        for (const result of burst) {
          const kind = result.status === 'fulfilled' ? 'served' : (result.reason as Error).message.startsWith('HTTP/1.1 503') ? '503' : (result.reason as Error).message.slice(0, 40);
          if (result.status === 'fulfilled') held.push(result.value.socket);
          outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
        }
      }
      const { status, body } = await health(target.port);
      await closeAndWait(held, true);
      const unanswered = [...outcomes].filter(([kind]) => kind !== '503' && kind !== 'served').reduce((sum, [, n]) => sum + n, 0);
      return {
        sentBytes: 0, receivedBytes: 0, connections: held.length,
        notes: [`${held.length} held${refusedFirst ? '' : ` (no refusal before this process's own bound of ${bound})`}`,
          `${past} past the limit: ${[...outcomes].map(([kind, n]) => `${kind} ×${n}`).join(', ')}`,
          // A /healthz that arrives while every fd is taken is refused like any other connection.
          `${status === 200 ? `fds.refused ${body.fds?.refused} (at once ${body.fds?.refusedAtOnce})` : `/healthz while full: ${status}`}; ${unanswered === 0 ? 'none unanswered' : `${unanswered} unanswered`}`],
      };
    },
  };
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const UPGRADE = `GET / HTTP/1.1\r\nHost: ${HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
/** The echo of a masked text frame "hi" (mask key 0), as the server sends it back unmasked. */
const ECHO_HI = Buffer.from([0x81, 0x02, 0x68, 0x69]);

/** Writes `bytes` in one write; everything received until `done` holds, the server closes, or 5 s pass. */
function exchange(port: number, bytes: string | Buffer, done: (received: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    let received = Buffer.alloc(0);
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(received);
    };
    const timer = setTimeout(finish, 5000);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (done(received)) finish();
    });
    socket.on('close', finish);
    socket.on('error', () => {});
  });
}

/**
 * (6) GET /healthz pipelined before an upgrade and a frame in one packet, 100 times: the 200 must
 * come whole before the 101, and the echo after it; and 100 upgrades with two Host headers.
 */
const httpEdges: Attack = {
  id: 'http-edges',
  title: 'GET /healthz + upgrade + frame in one packet ×100; two Host headers ×100',
  app: 'echo',
  modes: ['inline', 'w2'],
  goal: {
    text: 'all in order, all 400',
    met: (row) => /^in order ×\d+$/.test(row.outcome.notes[0] ?? '') && /^400 ×\d+$/.test(row.outcome.notes[1] ?? ''),
  },
  async run({ target, scale }): Promise<AttackOutcome> {
    const rounds = scaled(100, scale);
    const packet = Buffer.concat([Buffer.from(`GET /healthz HTTP/1.1\r\nHost: ${HOST}\r\n\r\n${UPGRADE}`), clientFrame(Op.TEXT, Buffer.from('hi'))]);
    const orders = new Map<string, number>();
    for (let i = 0; i < rounds; i++) {
      const bytes = await exchange(target.port, packet, (received) => received.includes(ECHO_HI));
      const text = bytes.toString('latin1');
      const ok = text.indexOf('HTTP/1.1 200') === 0 && text.indexOf('HTTP/1.1 101') > 0
        && bytes.indexOf(ECHO_HI) > text.indexOf('\r\n\r\n', text.indexOf('HTTP/1.1 101'));
      const kind = ok ? 'in order' : text.startsWith('HTTP/1.1 101') ? '101 first' : `other: ${JSON.stringify(text.slice(0, 20))}`;
      orders.set(kind, (orders.get(kind) ?? 0) + 1);
    }
    const statuses = new Map<string, number>();
    const twoHosts = UPGRADE.replace(`Host: ${HOST}\r\n`, `Host: ${HOST}\r\nHost: evil.example\r\n`);
    for (let i = 0; i < rounds; i++) {
      const bytes = await exchange(target.port, twoHosts, (received) => received.includes('\r\n\r\n'));
      const status = bytes.toString('latin1').slice(9, 12) || 'none';
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    return {
      sentBytes: rounds * (packet.length + twoHosts.length), receivedBytes: 0, connections: 1,
      notes: [[...orders].map(([kind, n]) => `${kind} ×${n}`).join(', '), [...statuses].map(([status, n]) => `${status} ×${n}`).join(', ')],
    };
  },
};

/** The rows of this file, in the issue's order. */
export function burstAttacks(openFileLimit: number): Attack[] {
  return [deflateBurst, asyncReject, fdBurst(openFileLimit), httpEdges];
}
