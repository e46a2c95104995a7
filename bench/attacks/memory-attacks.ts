/**
 * Attacks on memory bounds that must hold across connections (send buffers, subscriptions per address, memory outside the heap):
 * a publish flood to thousands of reading subscribers against --max-buffered-bytes, one address
 * taking every subscription of a thread, and a handler that keeps the Buffers it receives. Each
 * bounded in time and count, like those of attacks.ts, and closing its connections before it
 * returns.
 */
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { clientFrame, closeRaw, FrameReader, Op, openRaw, repeatFrame, writeWithBackpressure } from './raw-ws.js';
import { HOST, probeHealth, sleep } from './target.js';
import type { Attack } from './attacks.js';

const MiB = 1024 * 1024;
const scaled = (count: number, scale: number) => Math.max(1, Math.round(count * scale));

/** The issue's target for the publish flood, and the thread budget it is run with. */
const FLOOD_RSS_TARGET_BYTES = 500e6;
const FLOOD_BUFFERED_BYTES = 128 * MiB;

/**
 * 5 000 subscribers that read everything, and one publisher sending 10 000
 * publishes/s of 100 B of data for 15 s: 50 M deliveries/s offered, more than any server here
 * delivers. With `--max-buffered-bytes 134217728` (per thread) the server must shed by policy
 * ('drop': no subscriber closed) and stay under 500 MB of RSS, and no worker may be replaced.
 */
export const publishFlood: Attack = {
  id: 'publish-flood',
  modes: ['inline', 'w2'],
  title: '10 000 publishes/s of 100 B to 5 000 reading subscribers, 15 s',
  app: 'pubsub',
  serveArgs: ['--max-buffered-bytes', String(FLOOD_BUFFERED_BYTES)],
  goal: { text: 'RSS peak < 500 MB, no subscriber closed, no worker replaced', met: (row) => row.rssPeakKiB * 1024 < FLOOD_RSS_TARGET_BYTES && row.outcome.notes.some((note) => note.startsWith('subscribers closed by the server: 0,')) },
  async run({ target, scale }) {
    const subscribers = scaled(5000, scale);
    const durationMs = Math.max(2000, 15_000 * scale);
    const sockets: Socket[] = [];
    let subscribed = 0;
    let closedByServer = 0;
    let deliveredBytes = 0;
    let stopping = false;
    const subscribe = clientFrame(Op.TEXT, Buffer.from(JSON.stringify({ type: 'subscribe', topic: 'flood' })));
    let next = 0;
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next < subscribers) {
        const index = next++;
        const { socket, rest } = await openRaw(HOST, target.port, { localAddress: `127.0.0.${1 + (index % 8)}`, timeoutMs: 30_000 });
        let counted = false;
        // Only the first frame is parsed (the subscribe reply); deliveries are counted by bytes.
        const reader = new FrameReader((opcode, payload) => {
          if (!counted && opcode === Op.TEXT && payload.includes('"subscribed"')) { counted = true; subscribed++; }
        });
        reader.push(rest);
        const onData = (chunk: Buffer) => {
          if (!counted) reader.push(chunk);
          else deliveredBytes += chunk.length;
        };
        socket.on('data', onData);
        socket.once('close', () => { if (!stopping) closedByServer++; });
        socket.write(subscribe);
        sockets.push(socket);
      }
    }));
    await until(() => subscribed >= subscribers, 60_000);
    const { socket: publisher } = await openRaw(HOST, target.port);
    publisher.resume();
    const PER_TICK = Math.max(1, Math.round(100 * scale));
    const block = repeatFrame(clientFrame(Op.TEXT, Buffer.from(JSON.stringify({ type: 'publish', topic: 'flood', data: 'x'.repeat(100) }))), PER_TICK);
    const started = performance.now();
    let published = 0;
    // Open loop: PER_TICK publishes every 10 ms, whatever the server does with them.
    while (performance.now() - started < durationMs && !publisher.destroyed) {
      const due = Math.floor((performance.now() - started) / 10);
      while (published / PER_TICK < due) {
        publisher.write(block);
        published += PER_TICK;
      }
      await sleep(5);
    }
    const health = await probeHealth(target.port, 10_000);
    stopping = true;
    const sentBytes = publisher.bytesWritten + sockets.reduce((sum, s) => sum + s.bytesWritten, 0);
    const receivedBytes = sockets.reduce((sum, s) => sum + s.bytesRead, 0);
    publisher.destroy();
    await closeAndWait(sockets);
    return {
      sentBytes, receivedBytes, connections: sockets.length + 1,
      notes: [
        `${published.toLocaleString('en-US')} publishes in ${(durationMs / 1000).toFixed(0)} s to ${subscribed.toLocaleString('en-US')} subscribers (--max-buffered-bytes ${FLOOD_BUFFERED_BYTES})`,
        `subscribers closed by the server: ${closedByServer}, ${(deliveredBytes / MiB).toFixed(0)} MiB of deliveries read`,
        healthNote(health, ['pubsub.published', 'pubsub.deliveries', 'pubsub.droppedBufferLimit', 'pubsub.closedSlow', 'buffers.closedBufferLimit', 'pool.restarts', 'pool.stuck']),
      ],
    };
  },
};

/**
 * 100 connections from one address subscribe 1 000 patterns each (within their
 * own limit of 1 000), then a client from another address (127.0.0.2) subscribes 10.
 */
export const subscriptionsFromOneAddress: Attack = {
  id: 'subscriptions-one-address',
  modes: ['inline', 'w2'],
  title: '100 connections × 1 000 patterns from one address, then another address subscribes',
  app: 'pubsub',
  goal: { text: 'the other address subscribes', met: (row) => row.outcome.notes.some((note) => note.startsWith('other address: 10 of 10 subscribed')) },
  async run({ target, scale }) {
    const connections = scaled(100, scale);
    const perConnection = 1000;
    const sockets: Socket[] = [];
    const replies = new Map<string, number>();
    const count = (text: string) => {
      const kind = /"type":"subscribed"/.test(text) ? 'subscribed' : (/"code":"([^"]+)"/.exec(text)?.[1] ?? 'other');
      replies.set(kind, (replies.get(kind) ?? 0) + 1);
    };
    await Promise.all(Array.from({ length: connections }, async (_, c) => {
      const { socket, rest } = await openRaw(HOST, target.port, { localAddress: '127.0.0.1' });
      const reader = new FrameReader((opcode, payload) => { if (opcode === Op.TEXT) count(payload.toString('utf8')); });
      reader.push(rest);
      socket.on('data', (chunk: Buffer) => reader.push(chunk));
      const frames: Buffer[] = [];
      for (let i = 0; i < perConnection; i++) frames.push(clientFrame(Op.TEXT, Buffer.from(JSON.stringify({ type: 'subscribe', topic: `flood.${c}.${i}` }))));
      await writeWithBackpressure(socket, Buffer.concat(frames), 30_000);
      sockets.push(socket);
    }));
    const answered = () => [...replies.values()].reduce((a, b) => a + b, 0);
    await until(() => answered() >= connections * perConnection, 120_000);
    // Another address.
    const { socket: other, rest } = await openRaw(HOST, target.port, { localAddress: '127.0.0.2' });
    let otherSubscribed = 0;
    let otherRefused = '';
    const reader = new FrameReader((opcode, payload) => {
      const text = payload.toString('utf8');
      if (opcode !== Op.TEXT) return;
      if (text.includes('"subscribed"')) otherSubscribed++;
      else otherRefused = /"code":"([^"]+)"/.exec(text)?.[1] ?? 'other';
    });
    reader.push(rest);
    other.on('data', (chunk: Buffer) => reader.push(chunk));
    for (let i = 0; i < 10; i++) other.write(clientFrame(Op.TEXT, Buffer.from(JSON.stringify({ type: 'subscribe', topic: `other.${i}` }))));
    await until(() => otherSubscribed + (otherRefused === '' ? 0 : 1) >= 10 || otherRefused !== '', 30_000);
    await sleep(200);
    const health = await probeHealth(target.port, 10_000);
    const sentBytes = sockets.reduce((sum, s) => sum + s.bytesWritten, other.bytesWritten);
    const receivedBytes = sockets.reduce((sum, s) => sum + s.bytesRead, other.bytesRead);
    await closeAndWait([...sockets, other]);
    const kinds = [...replies].map(([kind, n]) => `${kind} ×${n.toLocaleString('en-US')}`).join(', ');
    return {
      sentBytes, receivedBytes, connections: sockets.length + 1,
      notes: [`one address: ${kinds}`, `other address: ${otherSubscribed} of 10 subscribed${otherRefused === '' ? '' : ` (refused: ${otherRefused})`}`,
        healthNote(health, ['pubsub.subscriptions', 'pubsub.tooManySubscriptionsPerIp', 'pubsub.tooManyTotalSubscriptions'])],
    };
  },
};

/** The cap the hoarding attack's server runs with (a worker's memory outside its heap). */
const HOARD_CAP_BYTES = 256 * MiB;

/**
 * An echo handler that keeps a copy of every message; one client sends 40
 * messages of 15 MiB, one after another. Workers run with
 * `--max-worker-external-memory 268435456`: the worker past it is replaced (counted), its
 * connection dropped; inline has no such cap (the thread is the process) and /healthz shows it.
 */
export const hoardingHandler: Attack = {
  id: 'hoarding-handler',
  modes: ['inline', 'w2'],
  title: 'a handler keeping every received Buffer: 40 × 15 MiB',
  app: 'echo',
  serveArgs: ['--app', fileURLToPath(new URL('../apps/hoarding-echo.js', import.meta.url)), '--max-worker-external-memory', String(HOARD_CAP_BYTES)],
  async run({ target, scale }) {
    const messages = scaled(40, scale);
    const message = clientFrame(Op.BINARY, Buffer.alloc(15 * MiB, 'h'));
    let { socket, rest } = await openRaw(HOST, target.port);
    let echoed = 0;
    let drops = 0;
    let peakExternal = 0;
    const attach = (s: Socket, r: Buffer) => {
      const reader = new FrameReader((opcode) => { if (opcode === Op.BINARY) echoed++; });
      reader.push(r);
      s.on('data', (chunk: Buffer) => reader.push(chunk));
    };
    attach(socket, rest);
    let sentBytes = 0;
    for (let i = 0; i < messages; i++) {
      if (socket.destroyed) {
        drops++;
        sentBytes += socket.bytesWritten;
        ({ socket, rest } = await openRaw(HOST, target.port));
        attach(socket, rest);
      }
      const before = echoed;
      await writeWithBackpressure(socket, message, 30_000);
      await until(() => echoed > before || socket.destroyed, 30_000);
      const health = await probeHealth(target.port, 10_000);
      for (const match of health.body.matchAll(/"external":(\d+)/g)) peakExternal = Math.max(peakExternal, Number(match[1]));
    }
    const health = await probeHealth(target.port, 10_000);
    sentBytes += socket.bytesWritten;
    await closeAndWait([socket]);
    return {
      sentBytes, receivedBytes: echoed * 15 * MiB, connections: 1,
      notes: [`${echoed} of ${messages} echoed, connection dropped ${drops}×; peak external memory of a thread in /healthz ${(peakExternal / MiB).toFixed(0)} MiB (worker cap ${HOARD_CAP_BYTES / MiB} MiB)`,
        healthNote(health, ['pool.restarts', 'pool.overMemory'])],
    };
  },
};

/** `a.b` fields of a /healthz body, as `a.b N` (what is absent is left out). */
function healthNote(health: { status: number | string; body: string }, fields: string[]): string {
  let body: Record<string, unknown> = {};
  try { body = JSON.parse(health.body) as Record<string, unknown>; } catch { /* not JSON: the status says why */ }
  const parts = fields.flatMap((field) => {
    const value = field.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], body);
    return value === undefined ? [] : [`${field} ${typeof value === 'number' ? value.toLocaleString('en-US') : String(value)}`];
  });
  return `/healthz ${health.status}: ${parts.join(', ')}`;
}

async function closeAndWait(sockets: Socket[]): Promise<void> {
  for (const socket of sockets) {
    socket.resume();
    closeRaw(socket);
  }
  await until(() => sockets.every((socket) => socket.destroyed || socket.closed), 10_000);
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition() && performance.now() < deadline) await sleep(20);
}
