/**
 * The attacks, unscaled (`--scale 1`), each bounded in time and count. An attack
 * drives its own raw connections against the server, closes them all before it returns, and says
 * what went over the wire and what it saw. The harness (main.ts) measures the server
 * around it.
 */
import type { Socket } from 'node:net';
import { clientFrame, closeRaw, FrameReader, Op, openRaw, repeatFrame, writeWithBackpressure } from './raw-ws.js';
import { HOST, sleep, type Mode, type Target, type TargetSetup } from './target.js';

const MiB = 1024 * 1024;
/** The server's defaults the targets are stated in (docs/api.md: maxPayload, highWaterMark). */
export const MAX_PAYLOAD = 16 * MiB;
export const HIGH_WATER_MARK = 1 * MiB;

export interface AttackContext {
  target: Target;
  /** 0 < scale ≤ 1: counts are multiplied by it (smoke tests); 1 is the issue's attack. */
  scale: number;
}

export interface AttackOutcome {
  sentBytes: number;
  receivedBytes: number;
  /** Connections the attack held at once (per-connection targets divide by it). */
  connections: number;
  /** The size of the one message the attack sends, where it sends one (the fragments). */
  payloadBytes?: number;
  notes: string[];
}

export interface Attack {
  id: string;
  title: string;
  app: 'echo' | 'pubsub';
  /** `wasmsocket serve` flags of its own, before --serve-args (a later `--app` replaces `app`'s). */
  serveArgs?: string[];
  /** The target in words, and its check on the measured row (undefined: no target of its own). */
  goal?: { text: string; met(row: MeasuredRow): boolean };
  /** Another app module, the fd limit: see TargetSetup. */
  setup?: TargetSetup;
  /** The modes it runs in when --modes is not given (default inline and --workers 1). */
  modes?: Mode[];
  run(context: AttackContext): Promise<AttackOutcome>;
}

/** What the harness measured around an attack (KiB as /proc gives them). */
export interface MeasuredRow {
  outcome: AttackOutcome;
  rssBeforeKiB: number;
  rssPeakKiB: number;
  rssAfterKiB: number;
  bystanderP99Ms: number;
  up: boolean;
}

const scaled = (count: number, scale: number) => Math.max(1, Math.round(count * scale));

/** (a) One text message of 8 Mi one-byte fragments: 7 bytes on the wire per byte of message. */
export const fragments: Attack = {
  id: 'fragments',
  title: 'one message as 8 M one-byte fragments',
  app: 'echo',
  goal: { text: 'RSS growth ≤ 3× payload', met: (row) => (row.rssPeakKiB - row.rssBeforeKiB) * 1024 <= 3 * (row.outcome.payloadBytes ?? 0) },
  async run({ target, scale }) {
    const count = scaled(8 * MiB, scale);
    const { socket, rest } = await openRaw(HOST, target.port);
    const reader = new FrameReader(() => {});
    reader.push(rest);
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    const byte = Buffer.from('a');
    const BLOCK = 65_536;
    const continuation = repeatFrame(clientFrame(Op.CONTINUATION, byte, false), BLOCK);
    let sent = 0;
    const notes: string[] = [];
    const deadline = performance.now() + 120_000;
    await writeWithBackpressure(socket, clientFrame(Op.TEXT, byte, false), 30_000);
    sent++;
    while (sent < count - 1 && performance.now() < deadline) {
      const n = Math.min(BLOCK, count - 1 - sent);
      if (!await writeWithBackpressure(socket, n === BLOCK ? continuation : continuation.subarray(0, n * 7), 30_000)) {
        notes.push(`the server stopped reading after ${sent.toLocaleString('en-US')} fragments`);
        break;
      }
      sent += n;
    }
    if (sent === count - 1) {
      await writeWithBackpressure(socket, clientFrame(Op.CONTINUATION, byte, true), 30_000);
      sent++;
      // The echo of the whole message (or a close) ends the attack.
      await until(() => reader.bytes >= count || reader.closeCode !== undefined || socket.destroyed, 60_000);
    }
    if (reader.closeCode !== undefined) notes.push(`server closed with ${reader.closeCode}`);
    else if (reader.bytes >= count) notes.push('echoed back whole');
    else notes.push('no echo within 60 s');
    const sentBytes = socket.bytesWritten;
    await closeAndWait([socket]);
    return { sentBytes, receivedBytes: reader.bytes, connections: 1, payloadBytes: count, notes: [`${sent.toLocaleString('en-US')} of ${count.toLocaleString('en-US')} fragments sent`, ...notes] };
  },
};

const PEERS = 20;
const perConnectionGoal = {
  text: `RSS growth ≤ maxPayload + high-water mark (${(MAX_PAYLOAD + HIGH_WATER_MARK) / MiB} MiB) per connection`,
  met: (row: MeasuredRow) => (row.rssPeakKiB - row.rssBeforeKiB) * 1024 <= row.outcome.connections * (MAX_PAYLOAD + HIGH_WATER_MARK),
};

/**
 * (b) 20 peers that never read: each sends `frame` in blocks for the time budget, or until the
 * server stops reading from it (its write does not drain for 2 s: backpressure held).
 */
async function nonReadingPeers(target: Target, frame: Buffer, framesPerBlock: number, budgetMs: number): Promise<AttackOutcome> {
  const sockets: Socket[] = [];
  for (let i = 0; i < PEERS; i++) {
    const { socket } = await openRaw(HOST, target.port);
    socket.pause(); // never read: replies pile up in the server
    sockets.push(socket);
  }
  const block = repeatFrame(frame, framesPerBlock);
  const deadline = performance.now() + budgetMs;
  let stalled = 0;
  await Promise.all(sockets.map(async (socket) => {
    while (performance.now() < deadline) {
      if (!await writeWithBackpressure(socket, block, 2000)) {
        stalled++;
        return;
      }
    }
  }));
  const sentBytes = sockets.reduce((sum, s) => sum + s.bytesWritten, 0);
  const receivedBytes = sockets.reduce((sum, s) => sum + s.bytesRead, 0);
  // The server's memory is read at its peak before the peers go.
  await sleep(1000);
  await closeAndWait(sockets, true);
  return {
    sentBytes, receivedBytes, connections: PEERS,
    notes: [`${stalled} of ${PEERS} peers stopped by backpressure (the server stopped reading them)`],
  };
}

export const nonReadingEcho: Attack = {
  id: 'nonreading-echo',
  title: '20 non-reading peers sending 1 MiB echoes',
  app: 'echo',
  goal: perConnectionGoal,
  run: ({ target, scale }) => nonReadingPeers(target, clientFrame(Op.TEXT, Buffer.alloc(MiB, 'a')), 1, 15_000 * scale),
};

export const pingFlood: Attack = {
  id: 'ping-flood',
  title: '20 non-reading peers flooding pings',
  app: 'echo',
  goal: perConnectionGoal,
  run: ({ target, scale }) => nonReadingPeers(target, clientFrame(Op.PING, Buffer.alloc(125, 'p')), 1024, 15_000 * scale),
};

const SEGMENTS = 20;
/** Segment k of pattern i is `*` where bit k of i is set: distinct patterns, all matching a.a.…a. */
function floodPattern(i: number): string {
  const segments: string[] = [];
  for (let k = 0; k < SEGMENTS; k++) segments.push(((i >> k) & 1) === 1 ? '*' : 'a');
  return segments.join('.');
}
const FLOOD_TOPIC = Array.from({ length: SEGMENTS }, () => 'a').join('.');

/**
 * (c) One connection subscribes 100 000 wildcard patterns that all match one topic, then 40
 * publishes of that topic. Refusals (too_many_subscriptions, forbidden…) are counted, and the
 * attack goes on with the subscriptions the server accepted.
 */
export const subscriptionFlood: Attack = {
  id: 'subscription-flood',
  title: '100 000 wildcard patterns matching one topic, 40 publishes',
  app: 'pubsub',
  goal: { text: 'bystander p99 < 50 ms', met: (row) => row.bystanderP99Ms < 50 },
  async run({ target, scale }) {
    const patterns = scaled(100_000, scale);
    const publishes = 40;
    const { socket, rest } = await openRaw(HOST, target.port);
    const replies = new Map<string, number>();
    let deliveries = 0;
    const reader = new FrameReader((opcode, payload) => {
      if (opcode !== Op.TEXT) return;
      const text = payload.toString('utf8');
      if (text.startsWith('{"type":"message"')) {
        deliveries++;
        return;
      }
      const kind = /"type":"subscribed"/.test(text) ? 'subscribed' : (/"code":"([^"]+)"/.exec(text)?.[1] ?? 'other');
      replies.set(kind, (replies.get(kind) ?? 0) + 1);
    });
    reader.push(rest);
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    const BATCH = 1000;
    for (let i = 0; i < patterns; i += BATCH) {
      const frames: Buffer[] = [];
      for (let j = i; j < Math.min(patterns, i + BATCH); j++) {
        frames.push(clientFrame(Op.TEXT, Buffer.from(JSON.stringify({ type: 'subscribe', topic: floodPattern(j) }))));
      }
      if (!await writeWithBackpressure(socket, Buffer.concat(frames), 30_000)) break;
    }
    const answered = () => [...replies.values()].reduce((a, b) => a + b, 0);
    await until(() => answered() >= patterns || socket.destroyed, 120_000);
    const accepted = replies.get('subscribed') ?? 0;
    const publish = clientFrame(Op.TEXT, Buffer.from(JSON.stringify({ type: 'publish', topic: FLOOD_TOPIC, data: 'x' })));
    for (let k = 0; k < publishes && !socket.destroyed; k++) socket.write(publish);
    await until(() => deliveries >= publishes || socket.destroyed, 60_000);
    const sentBytes = socket.bytesWritten;
    await closeAndWait([socket]);
    const refused = [...replies].filter(([kind]) => kind !== 'subscribed').map(([kind, n]) => `${kind} ×${n}`);
    return {
      sentBytes, receivedBytes: reader.bytes, connections: 1,
      notes: [`${accepted.toLocaleString('en-US')} of ${patterns.toLocaleString('en-US')} subscriptions accepted${refused.length > 0 ? `, refused: ${refused.join(', ')}` : ''}`,
        `${answered() < patterns ? `${patterns - answered()} subscribes unanswered; ` : ''}${deliveries} deliveries of ${publishes} publishes`],
    };
  },
};

/**
 * (d) Idle WebSocket connections opened until the server refuses them (bounded by 19 000 and by
 * this process's own open-file limit), then `/healthz` is probed while they are held.
 */
export function fdExhaustion(openFileLimit: number, probe: (port: number) => Promise<{ status: number | string; body: string }>): Attack {
  return {
    id: 'fd-exhaustion',
    title: 'connections until refused (≤ 19 000), then /healthz',
    app: 'echo',
    goal: { text: '/healthz answers while full', met: (row) => row.outcome.notes.some((note) => note.startsWith('/healthz while full: 200')) },
    async run({ target, scale }) {
      const own = Math.max(16, openFileLimit - 256);
      const bound = Math.min(scaled(19_000, scale), own);
      const sockets: Socket[] = [];
      const refusals = new Map<string, number>();
      let attempted = 0;
      const CONCURRENCY = 64;
      const STOP_AFTER_REFUSALS = 50;
      const refusedCount = () => [...refusals.values()].reduce((a, b) => a + b, 0);
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (attempted < bound && refusedCount() < STOP_AFTER_REFUSALS) {
          const index = attempted++;
          try {
            // Several source addresses: 19 000 connections stay clear of one address's port range.
            const { socket } = await openRaw(HOST, target.port, { localAddress: `127.0.0.${1 + (index % 8)}`, timeoutMs: 10_000 });
            sockets.push(socket);
          } catch (error) {
            const kind = (error as Error).message.slice(0, 60);
            refusals.set(kind, (refusals.get(kind) ?? 0) + 1);
          }
        }
      }));
      const health = await probe(target.port);
      // The status and the connection count say whether it answered and what it saw; the rest is in the server's /healthz.
      const connections = /"connections":(\d+)/.exec(health.body)?.[1];
      const healthLine = `/healthz while full: ${health.status}${connections === undefined ? '' : ` (connections ${connections})`}`;
      await closeAndWait(sockets, true);
      const refused = [...refusals].map(([kind, n]) => `${kind} ×${n}`).join(', ');
      return {
        sentBytes: sockets.reduce((sum, s) => sum + s.bytesWritten, 0), receivedBytes: sockets.reduce((sum, s) => sum + s.bytesRead, 0),
        connections: sockets.length,
        notes: [`${sockets.length.toLocaleString('en-US')} held of ${attempted.toLocaleString('en-US')} attempted (bound ${bound.toLocaleString('en-US')}${bound === own ? ', this process\'s fd limit' : ''})` +
          `${refused === '' ? ', none refused' : `, refused: ${refused}`}`, healthLine],
      };
    },
  };
}

/** Closes every socket (close frame, or at once with `destroy`) and waits until they are all gone (≤ 10 s). */
export async function closeAndWait(sockets: Socket[], destroy = false): Promise<void> {
  for (const socket of sockets) {
    if (destroy) socket.destroy();
    else {
      socket.resume();
      closeRaw(socket);
    }
  }
  await until(() => sockets.every((socket) => socket.destroyed || socket.closed), 10_000);
}

export async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition() && performance.now() < deadline) await sleep(20);
}
