/**
 * Robustness: a message split into a huge number of tiny fragments (RFC 6455 §5.4 allows any
 * number) costs the server memory in proportion to its payload, not an object per fragment.
 * The server runs as a child process so that its RSS is its own.
 */
import test from 'ava';
import { CODEC_KINDS } from '../helpers/codecs.js';
import { RawClient, text, Op } from '../helpers/raw-client.js';
import { cli, rssOf, startServerProcess } from './server-process.js';

const FRAGMENTS = 1_000_000;
const MIB = 1024 * 1024;
/** Generous: the payload a few times over plus what reading 7 MB through Node may leave behind. */
const RSS_GROWTH_BOUND = 3 * FRAGMENTS + 40 * MIB;

/**
 * A text message of `count` 1-byte fragments, masked (7 bytes each on the wire), built directly
 * rather than with frame() per fragment: a million small Buffers would only slow the test.
 */
function oneByteFragments(payload: Buffer): Buffer {
  const maskKey = [0x37, 0xfa, 0x21, 0x3d];
  const wire = Buffer.allocUnsafe(payload.length * 7);
  for (let i = 0, p = 0; i < payload.length; i++, p += 7) {
    const opcode = i === 0 ? Op.TEXT : Op.CONTINUATION;
    wire[p] = (i === payload.length - 1 ? 0x80 : 0) | opcode;
    wire[p + 1] = 0x80 | 1;
    wire[p + 2] = maskKey[0];
    wire[p + 3] = maskKey[1];
    wire[p + 4] = maskKey[2];
    wire[p + 5] = maskKey[3];
    wire[p + 6] = payload[i] ^ maskKey[0]; // one byte: always mask key byte 0 (RFC 6455 §5.3)
  }
  return wire;
}

const modes = [{ label: 'inline', args: ['--workers', '0'] }, { label: '1 worker', args: ['--workers', '1'] }];

for (const codec of CODEC_KINDS) {
  for (const mode of modes) {
    test.serial(`a message of 1 M one-byte fragments echoes whole, a bystander is answered, RSS stays bounded [${codec}, ${mode.label}]`, async (t) => {
      t.timeout(120_000);
      const server = await startServerProcess(t, [cli, 'serve', '--port', '0', '--app', 'echo', '--codec', codec, ...mode.args]);
      const { port } = server;
      const payload = Buffer.alloc(FRAGMENTS);
      for (let i = 0; i < FRAGMENTS; i++) payload[i] = 0x61 + (i % 26);
      const wire = oneByteFragments(payload);

      const bystander = await RawClient.connect(port);
      const flooder = await RawClient.connect(port);
      t.teardown(() => { bystander.destroy(); flooder.destroy(); });
      // Warm up both paths so that the baseline includes what any echo costs once.
      await bystander.send(text('warm-up'));
      t.is((await bystander.nextFrame()).payload.toString(), 'warm-up');
      const before = rssOf(server.child);

      const sent = flooder.send(wire);
      let answered = 0;
      let echoed = false;
      const echo = flooder.nextFrame(100_000).finally(() => { echoed = true; });
      // The bystander keeps echoing for as long as the big message is in flight.
      do {
        await bystander.send(text(`still there ${answered}`));
        const reply = await bystander.nextFrame(60_000);
        t.is(reply.payload.toString(), `still there ${answered}`);
        answered++;
      } while (!echoed);
      await sent;
      const message = await echo;
      const peak = rssOf(server.child, 'peak');

      t.is(message.opcode, Op.TEXT);
      t.true(message.fin);
      t.true(message.payload.equals(payload), 'the echo is the message, byte for byte');
      t.true(answered >= 1);
      const growth = peak - before;
      t.log(`server RSS ${(before / MIB).toFixed(1)} MiB before, peak ${(peak / MIB).toFixed(1)} MiB: +${(growth / MIB).toFixed(1)} MiB for a ${FRAGMENTS}-byte message`);
      t.true(growth < RSS_GROWTH_BOUND, `RSS grew by ${growth} bytes, over ${RSS_GROWTH_BOUND}`);
    });
  }
}
