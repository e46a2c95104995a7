/**
 * Peers that never read: one connection's send queue is capped at highWaterMark + maxPayload
 * (a write past it closes the connection with 1013), and a thread's queues together at
 * maxBufferedBytes (the largest are dropped at once, their queues released). The server runs in a
 * child process whose resident memory is read from /proc.
 */
import test from 'ava';
import WebSocket from 'ws';
import { once } from 'node:events';
import { CODEC_KINDS } from '../helpers/codecs.js';
import { waitFor } from '../helpers/wait.js';
import { makeCertificate } from '../helpers/certificate.js';
import { text } from '../helpers/raw-client.js';
import { fixture, healthz, rssOf, SilentPeer, startServerProcess } from './server-process.js';

const MiB = 1024 * 1024;
/** Messages each peer of the maxBufferedBytes test asks for. */
const ASKED = 240;
const serve = fixture('serve');
/** Long enough that a closed peer still finds its close frame when it reads, on a loaded machine. */
const closeTimeoutMs = 120_000;

/** A reading client's round trip: one 64 KiB message back from the loop sender. */
async function bystanderAnswered(port: number): Promise<boolean> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  try {
    await once(ws, 'open');
    ws.send('1');
    const [reply] = await once(ws, 'message');
    return (reply as Buffer).length === 64 * 1024;
  } finally {
    ws.terminate();
  }
}

for (const workers of [0, 1]) {
  const mode = workers === 0 ? 'inline' : `${workers} worker`;
  for (const codec of CODEC_KINDS) {
    test(`[${mode}, ${codec}] an application sending in a loop to a peer that never reads is closed with 1013 at the send queue cap`, async (t) => {
      const options = { port: 0, workers, codec, app: fixture('loop-sender-app'), maxPayload: MiB, closeTimeoutMs };
      const server = await startServerProcess(t, [serve, JSON.stringify(options)]);
      t.true(await bystanderAnswered(server.port));
      const before = rssOf(server.child);
      const peer = await SilentPeer.open(server.port);
      // 2 000 replies of 64 KiB: 125 MiB if nothing bounded the queue; the cap is about 2 MiB.
      peer.send(text('2000'));
      await waitFor(async () => (await healthz(server.port)).body.buffers?.closedSendQueueFull === 1, 60_000);
      const { body } = await healthz(server.port);
      t.is(body.buffers?.closedSendQueueFull, 1, JSON.stringify(body));
      t.true(body.buffers.bufferedAmount <= 2 * MiB + 64 * 1024, `${body.buffers.bufferedAmount} bytes queued`);
      const grown = rssOf(server.child) - before;
      t.log(`RSS +${(grown / MiB).toFixed(1)} MiB, ${body.buffers.bufferedAmount} bytes queued at the close`);
      t.true(grown < 48 * MiB, `server RSS grew ${(grown / MiB).toFixed(1)} MiB for one peer that never reads`);
      t.true(await bystanderAnswered(server.port), 'another client is still served');
      // The peer that reads at last finds what fitted, then the close frame.
      const closed = await peer.readToClose();
      t.is(closed.code, 1013);
      t.is(closed.reason, 'send queue full');
      t.true(closed.dataFrames > 0 && closed.dataFrames < 200, `${closed.dataFrames} messages before the close`);
      // Its queue is given back once it is gone.
      await waitFor(async () => (await healthz(server.port)).body.buffers.bufferedAmount === 0, 30_000);
      t.is((await healthz(server.port)).body.buffers.bufferedAmount, 0);
    });
  }

  test(`[${mode}, wss] over TLS the send queue cap holds the same way`, async (t) => {
    const certificate = makeCertificate();
    t.teardown(() => certificate.remove());
    const tlsOptions = { cert: certificate.cert, key: certificate.key };
    const options = { port: 0, workers, app: fixture('loop-sender-app'), maxPayload: MiB, closeTimeoutMs, tls: tlsOptions };
    const server = await startServerProcess(t, [serve, JSON.stringify(options)]);
    const before = rssOf(server.child);
    const peer = await SilentPeer.open(server.port, true);
    peer.send(text('2000'));
    await waitFor(async () => (await healthz(server.port, true)).body.buffers?.closedSendQueueFull === 1, 60_000);
    t.is((await healthz(server.port, true)).body.buffers?.closedSendQueueFull, 1);
    const grown = rssOf(server.child) - before;
    t.log(`RSS +${(grown / MiB).toFixed(1)} MiB`);
    t.true(grown < 48 * MiB, `server RSS grew ${(grown / MiB).toFixed(1)} MiB for one peer that never reads`);
    t.like(await peer.readToClose(), { code: 1013, reason: 'send queue full' });
  });

  test(`[${mode}] past maxBufferedBytes the connections with the largest queues are dropped at once, their queues released; the rest are served`, async (t) => {
    const options = { port: 0, workers, app: fixture('loop-sender-app'), maxBufferedBytes: 16 * MiB, closeTimeoutMs };
    const server = await startServerProcess(t, [serve, JSON.stringify(options)]);
    const peers = await Promise.all([0, 1, 2].map(() => SilentPeer.open(server.port)));
    // Each asks for 15 MiB, under its own cap (17 MiB), and the kernel takes a few MiB of it
    // (loopback buffers): one queue fits the 16 MiB limit, two do not.
    for (const peer of peers) peer.send(text(String(ASKED)));
    await waitFor(async () => (await healthz(server.port)).body.buffers?.closedBufferLimit >= 1, 60_000);
    const { body } = await healthz(server.port);
    t.true(body.buffers?.closedBufferLimit >= 1, JSON.stringify(body));
    t.is(body.buffers.closedSendQueueFull, 0);
    // Released at once, not at the close timeout (120 s here): the total is back under the limit.
    await waitFor(async () => (await healthz(server.port)).body.buffers.bufferedAmount <= 16 * MiB, 30_000);
    t.true(await bystanderAnswered(server.port), 'another client is still served');
    const outcomes = await Promise.all(peers.map((peer) => peer.readToClose(ASKED)));
    const dropped = outcomes.filter((outcome) => outcome.dataFrames < ASKED);
    t.is(dropped.length, (await healthz(server.port)).body.buffers.closedBufferLimit);
    // No close frame: it would have waited behind the queue being released; TCP just ends.
    for (const outcome of dropped) t.is(outcome.code, undefined);
    t.true(outcomes.some((outcome) => outcome.code === undefined && outcome.dataFrames === ASKED), 'a connection under the limit got every message');
    await waitFor(async () => (await healthz(server.port)).body.buffers.bufferedAmount === 0, 30_000);
    const after = (await healthz(server.port)).body;
    t.is(after.buffers.bufferedAmount, 0);
    t.is(after.connections, 0);
  });
}

test('--max-buffered-bytes is parsed, checked, and listed in the help', async (t) => {
  const { parseServeArgs, SERVE_USAGE, UsageError } = await import('../../src/cli-args.js');
  t.is(parseServeArgs(['--max-buffered-bytes', '1048576']).options.maxBufferedBytes, MiB);
  t.is(parseServeArgs(['--max-buffered-bytes', '0']).options.maxBufferedBytes, 0);
  t.is(parseServeArgs([]).options.maxBufferedBytes, 512 * MiB);
  t.throws(() => parseServeArgs(['--max-buffered-bytes', 'lots']), { instanceOf: UsageError, message: /--max-buffered-bytes must be a whole number/ });
  t.regex(SERVE_USAGE, /--max-buffered-bytes BYTES/);
  const { listen } = await import('../../src/main-thread/server.js');
  await t.throwsAsync(listen({ port: 0, maxBufferedBytes: -1 }), { instanceOf: TypeError, message: /maxBufferedBytes must be a whole number ≥ 0/ });
});
