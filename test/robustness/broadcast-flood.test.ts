/**
 * A publish flood against the thread's send-queue limit (maxBufferedBytes): the limit counts what
 * the queues really hold (a broadcast frame once, however many subscribers queue it), is checked
 * at every delivery, and sheds by the slow-subscriber policy before it is reached: 'drop' drops
 * deliveries to the fullest queues and closes no one; 'close' drops those subscribers' connections.
 * Subscribers here read, but slower than the flood comes (raw sockets that pause between reads),
 * so queues build in the server, not only in the kernel's socket buffers.
 */
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import WebSocket from 'ws';
import { listen, type WasmSocketServer } from '../../src/main-thread/server.js';
import { text } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';
import { fixture, SilentPeer } from './server-process.js';

const MiB = 1024 * 1024;
const LIMIT = 2 * MiB;
const SUBSCRIBERS = 12;
const PUBLISHES = 2500;
const DATA = 'x'.repeat(4000);

/** A subscriber that reads 64 KiB, then pauses 20 ms: about 3 MB/s, slower than the flood. */
class SlowReader {
  deliveries = 0;
  sawLast = false;
  closeFrame: number | undefined;
  tcpClosed = false;
  #pending = Buffer.alloc(0);
  #sinceStop = 0;

  constructor(readonly peer: SilentPeer) {
    const socket = peer.socket;
    socket.on('data', (chunk: Buffer) => {
      this.#parse(chunk);
      this.#sinceStop += chunk.length;
      if (this.#sinceStop >= 64 * 1024) {
        this.#sinceStop = 0;
        socket.pause();
        setTimeout(() => socket.resume(), 20);
      }
    });
    socket.once('close', () => { this.tcpClosed = true; });
    socket.resume();
  }

  static async subscribe(port: number, topic: string): Promise<SlowReader> {
    const reader = new SlowReader(await SilentPeer.open(port));
    reader.peer.send(text(JSON.stringify({ type: 'subscribe', topic })));
    return reader;
  }

  #parse(chunk: Buffer): void {
    let data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    for (;;) {
      if (data.length < 2) break;
      const length7 = data[1] & 0x7f;
      const offset = length7 < 126 ? 2 : length7 === 126 ? 4 : 10;
      if (data.length < offset) break;
      const length = length7 < 126 ? length7 : length7 === 126 ? data.readUInt16BE(2) : Number(data.readBigUInt64BE(2));
      if (data.length < offset + length) break;
      const opcode = data[0] & 0x0f;
      const payload = data.subarray(offset, offset + length);
      if (opcode === 0x8) this.closeFrame = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      if (opcode === 0x1) {
        const message = payload.toString('utf8');
        if (message.startsWith('{"type":"message"')) {
          this.deliveries++;
          if (message.includes('"data":"last"')) this.sawLast = true;
        }
      }
      data = data.subarray(offset + length);
    }
    this.#pending = Buffer.from(data);
  }
}

/** Publishes PUBLISHES × 4 000 B as fast as one ws client sends them; samples each thread's queued bytes meanwhile. */
async function flood(server: WasmSocketServer, topic: string): Promise<{ peakQueued: number }> {
  const publisher = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  await once(publisher, 'open');
  let peakQueued = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const stats = await server.stats();
      const threads = stats.workers.length === 0 ? [stats.bufferedAmount] : stats.workers.map((w) => w?.bufferedAmount ?? 0);
      peakQueued = Math.max(peakQueued, ...threads);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  for (let i = 0; i < PUBLISHES; i++) {
    publisher.send(JSON.stringify({ type: 'publish', topic, data: DATA }));
    if (publisher.bufferedAmount > MiB) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await waitFor(() => publisher.bufferedAmount === 0, 60_000);
  // The flood is handled once the server has counted every publish.
  await waitFor(async () => (await server.stats()).pubsub.published >= PUBLISHES, 60_000, 50);
  sampling = false;
  await sampler;
  // Published while the queues are still shedding, it would be dropped too: sent once they drained.
  await waitFor(async () => (await server.stats()).bufferedAmount < LIMIT / 4, 60_000, 20);
  publisher.send(JSON.stringify({ type: 'publish', topic, data: 'last' }));
  publisher.close();
  return { peakQueued };
}

/**
 * A server with SUBSCRIBERS slow readers of 'flood' under `slowPolicy`, flooded once; resolves
 * when every reader has the publish after the flood or was dropped.
 */
async function floodSubscribers(t: ExecutionContext, workers: number, slowPolicy: 'drop' | 'close') {
  const server = await listen({ port: 0, app: 'pubsub', workers, maxBufferedBytes: LIMIT, slowPolicy });
  t.teardown(() => server.close());
  const readers = await Promise.all(Array.from({ length: SUBSCRIBERS }, () => SlowReader.subscribe(server.port, 'flood')));
  await waitFor(async () => (await server.stats()).pubsub.subscriptions === SUBSCRIBERS, 30_000, 20);
  const { peakQueued } = await flood(server, 'flood');
  await waitFor(() => readers.every((reader) => reader.sawLast || reader.tcpClosed), 60_000, 50);
  return { readers, peakQueued, stats: await server.stats() };
}

for (const workers of [0, 2]) {
  const mode = workers === 0 ? 'inline' : `${workers} workers`;

  test(`[${mode}] a publish flood is shed by the drop policy within maxBufferedBytes; reading subscribers stay open and get the publish after it; no worker is replaced`, async (t) => {
    const { readers, peakQueued, stats } = await floodSubscribers(t, workers, 'drop');
    t.log(`peak queued per thread ${(peakQueued / MiB).toFixed(2)} MiB; ${stats.pubsub.deliveries} deliveries, ${stats.pubsub.droppedBufferLimit} dropped`);
    t.true(stats.pubsub.droppedBufferLimit > 0, 'the flood was shed');
    // The limit, plus one delivery per subscriber past the shedding mark and a turn's replies.
    t.true(peakQueued <= LIMIT + MiB / 2, `peak ${peakQueued} bytes queued on one thread, limit ${LIMIT}`);
    t.true(readers.every((reader) => !reader.tcpClosed && reader.closeFrame === undefined), 'no reading subscriber was closed');
    t.true(readers.every((reader) => reader.sawLast), 'every subscriber got the publish after the flood');
    t.true(readers.every((reader) => reader.deliveries > 0));
    t.is(stats.pubsub.closedSlow, 0);
    t.is(stats.buffers.closedBufferLimit, 0);
    if (workers > 0) t.like(stats.pool, { restarts: 0, stuck: 0 });
    for (const reader of readers) reader.peer.destroy();
  });

  test(`[${mode}] under the close policy the same flood drops the fullest subscribers' connections at once, within maxBufferedBytes`, async (t) => {
    const { readers, peakQueued, stats } = await floodSubscribers(t, workers, 'close');
    const dropped = readers.filter((reader) => reader.tcpClosed);
    t.log(`peak queued per thread ${(peakQueued / MiB).toFixed(2)} MiB; ${dropped.length} of ${SUBSCRIBERS} dropped`);
    t.true(dropped.length > 0, 'the flood dropped subscribers');
    t.is(stats.pubsub.closedSlow, dropped.length, 'each dropped subscriber counted once');
    t.true(peakQueued <= LIMIT + MiB / 2, `peak ${peakQueued} bytes queued on one thread, limit ${LIMIT}`);
    for (const reader of dropped) t.is(reader.closeFrame, undefined, 'dropped without a close frame behind its backlog');
    if (workers > 0) t.like(stats.pool, { restarts: 0, stuck: 0 });
    for (const reader of readers) reader.peer.destroy();
  });
}

test('a broadcast frame queued for many subscribers counts once in bufferedAmount', async (t) => {
  const server = await listen({ port: 0, app: 'pubsub', workers: 0, maxBufferedBytes: 0, slowSubscriberBytes: 256 * MiB });
  t.teardown(() => server.close());
  const peers = await Promise.all(Array.from({ length: 10 }, () => SilentPeer.open(server.port)));
  for (const peer of peers) peer.send(text(JSON.stringify({ type: 'subscribe', topic: 'big' })));
  await waitFor(async () => (await server.stats()).pubsub.subscriptions === 10, 30_000, 20);
  const payload = Buffer.alloc(256 * 1024, 0x61);
  for (let i = 0; i < 30; i++) server.publish('big', payload, true);
  await new Promise((resolve) => setImmediate(resolve));
  const { bufferedAmount } = await server.stats();
  // 30 frames of 256 KiB exist once; ten peers that read nothing hold them all, less what the
  // kernel took (a few MiB each): counted per peer, that would be far over 7.5 MiB.
  t.log(`${(bufferedAmount / MiB).toFixed(2)} MiB counted`);
  t.true(bufferedAmount <= 30 * (payload.length + 1024), `${bufferedAmount} bytes counted`);
  t.true(bufferedAmount >= payload.length, 'frames are queued');
  // Every peer still gets every frame: the subscribed reply and 30 deliveries, then a pong.
  const outcomes = await Promise.all(peers.map((peer) => peer.readToClose(31)));
  for (const outcome of outcomes) t.like(outcome, { code: undefined, dataFrames: 31 });
  await waitFor(async () => (await server.stats()).bufferedAmount === 0, 30_000, 20);
});

test('a closing connection\'s queue is released at once when the thread needs the room, long before the close timeout', async (t) => {
  const server = await listen({ port: 0, app: fixture('closing-sender-app'), workers: 0, maxBufferedBytes: 16 * MiB, closeTimeoutMs: 120_000 });
  t.teardown(() => server.close());
  const closing = await SilentPeer.open(server.port);
  // 15.6 MiB, then its close frame behind them: more than loopback's socket buffers take (~10 MB).
  closing.send(text('250'));
  await waitFor(async () => (await server.stats()).bufferedAmount > 4 * MiB, 30_000, 20);
  const other = await SilentPeer.open(server.port);
  other.send(text('200')); // 12.5 MiB more: the two together are past the limit
  await waitFor(async () => (await server.stats()).buffers.releasedClosing === 1, 30_000, 20);
  const stats = await server.stats();
  t.is(stats.buffers.releasedClosing, 1);
  await waitFor(async () => (await server.stats()).bufferedAmount <= 16 * MiB, 30_000, 20);
  const outcome = await closing.readToClose();
  t.log(`${outcome.dataFrames} of 250 messages had reached the kernel's buffers`);
  t.is(outcome.code, undefined, 'its TCP connection ended without the close frame that waited behind its queue');
  other.destroy();
});

test('[1 worker] a worker busy delivering publishes relayed to it, with no socket to read, is not taken for a stuck one', async (t) => {
  // A short heartbeat: 5 beats 50 ms apart unanswered would replace a worker that made no progress.
  const server = await listen({ port: 0, app: 'pubsub', workers: 1, workerHeartbeatTimeoutMs: 250, maxBufferedBytes: LIMIT });
  t.teardown(() => server.close());
  const readers = await Promise.all(Array.from({ length: SUBSCRIBERS }, () => SlowReader.subscribe(server.port, 'relayed')));
  await waitFor(async () => (await server.stats()).pubsub.subscriptions === SUBSCRIBERS, 30_000, 20);
  // Sent from the main thread in one turn: the worker gets them as one batch and works through it.
  const payload = Buffer.alloc(200, 0x61);
  for (let i = 0; i < 100_000; i++) server.publish('relayed', payload, false);
  await waitFor(async () => {
    const stats = await server.stats();
    return stats.pubsub.deliveries + stats.pubsub.droppedBufferLimit >= 100_000 * SUBSCRIBERS || stats.pool!.restarts > 0;
  }, 60_000, 50);
  const stats = await server.stats();
  t.like(stats.pool, { restarts: 0, stuck: 0 });
  t.is(stats.pubsub.deliveries + stats.pubsub.droppedBufferLimit, 100_000 * SUBSCRIBERS);
  t.true(readers.every((reader) => !reader.tcpClosed));
  for (const reader of readers) reader.peer.destroy();
});
