/**
 * Deflate amplification across connections: many clients each send one legal 16 KiB message
 * that inflates to 15.9 MiB, and read nothing. Each connection is bounded by maxPayload; the
 * thread's inflate budget bounds their sum, and a bystander is served throughout. The server is
 * the CLI in a child process (2 workers), so that its RSS is its own.
 */
import test from 'ava';
import { once } from 'node:events';
import WebSocket from 'ws';
import { compressedBinary } from '../helpers/deflate.js';
import { waitFor } from '../helpers/wait.js';
import { cli, healthz, rssOf, SilentPeer, startServerProcess } from './server-process.js';

const MiB = 1024 * 1024;
/** Fewer than the attack's 200 (bench:attacks runs those): enough that without the budget the burst passes 1 GiB. */
const PEERS = 40;
const INFLATED = Math.floor(15.9 * MiB);

test('[2 workers] 40 non-reading clients × 16 KiB inflating to 15.9 MiB: RSS grows < 1 GiB, a bystander is served throughout, the memory goes back after', async (t) => {
  const server = await startServerProcess(t, [cli, 'serve', '--port', '0', '--app', 'echo', '--workers', '2', '--deflate',
    // No heartbeat: the clients stay silent on purpose, however long a loaded machine takes.
    '--max-buffered-bytes', String(128 * MiB), '--ping-interval', '0']);
  const bystander = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  await once(bystander, 'open');
  t.teardown(() => bystander.terminate());
  const peers = await Promise.all(Array.from({ length: PEERS }, () => SilentPeer.open(server.port, false, true)));
  t.teardown(() => { for (const peer of peers) peer.destroy(); });
  const before = rssOf(server.child);

  // The bystander's round trips, one after another, for as long as the burst lasts.
  let echoes = 0;
  let bursting = true;
  const roundTrips = (async () => {
    while (bursting) {
      bystander.send('ping me');
      const [reply] = await once(bystander, 'message');
      if (String(reply) === 'ping me') echoes++;
    }
  })();

  const frame = compressedBinary(Buffer.alloc(INFLATED));
  t.true(frame.length < 17 * 1024, `the attack's frame is about 16 KiB (${frame.length} bytes)`);
  for (const peer of peers) peer.send(frame);
  const echoesAtStart = echoes;
  // Every message has gone through its worker's budget (inflated and handed to the echo app).
  await waitFor(async () => {
    const { inflate } = (await healthz(server.port)).body;
    return inflate.granted >= PEERS && inflate.inUseBytes === 0;
  }, 120_000);
  const echoesDuringBurst = echoes - echoesAtStart;
  bursting = false;
  await roundTrips;
  const peak = rssOf(server.child, 'peak');
  const { body } = await healthz(server.port);
  t.is(body.inflate.granted, PEERS);
  t.true(body.inflate.peakBytes <= 64 * MiB, `a thread held at most its 64 MiB budget of inflated output (${body.inflate.peakBytes})`);
  t.true(peak - before < 1024 * MiB, `RSS grew ${((peak - before) / MiB).toFixed(0)} MiB`);
  t.true(echoesDuringBurst >= 1, 'the bystander got echoes while the burst was inflated');

  t.log(`RSS +${((peak - before) / MiB).toFixed(0)} MiB at peak; budget peak ${(body.inflate.peakBytes / MiB).toFixed(1)} MiB, `
    + `${body.inflate.waited} messages waited; bystander ${echoesDuringBurst} echoes during the burst`);

  // Each client, reading at last, finds its echo, or its worker closed it for the send queues
  // together past --max-buffered-bytes (1013; TCP dropped after the close timeout when the close
  // frame sat behind the unread echo). Nothing was refused for its size or failed to inflate.
  const answers = await Promise.all(peers.map((peer) => peer.readToClose(1)));
  const echoed = answers.filter((answer) => answer.dataFrames === 1).length;
  t.log(`${echoed} echoed, ${answers.filter((a) => a.code === 1013).length} closed 1013, ${answers.filter((a) => a.dataFrames === 0 && a.code === undefined).length} dropped after the close timeout`);
  t.true(echoed >= 1);
  for (const answer of answers) t.true(answer.code === undefined || answer.code === 1013, `answer: ${JSON.stringify(answer)}`);
  // Once they are gone, the burst's memory goes back to the OS (the workers collect once quiet).
  await waitFor(() => rssOf(server.child) - before < 256 * MiB, 60_000, 200);
  const after = rssOf(server.child);
  t.log(`RSS +${((after - before) / MiB).toFixed(0)} MiB once the clients were gone`);
  t.true(after - before < 256 * MiB, 'the burst\'s memory was given back');
  t.is(await (async () => { bystander.send('after'); return String((await once(bystander, 'message'))[0]); })(), 'after');
});
