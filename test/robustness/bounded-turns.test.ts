/**
 * Robustness: one read's worth of messages whose handlers are slow (the busy fixture spends
 * ~1 ms each, like a publish fanning out) does not hold the thread's event loop until all of
 * them are handled: the connection yields after a turn's budget (src/server/turn-budget.ts),
 * and another connection of the same thread is answered while the flood is far from done.
 */
import test from 'ava';
import { fileURLToPath } from 'node:url';
import { listen } from '../../src/main-thread/server.js';
import { CODEC_KINDS } from '../helpers/codecs.js';
import { RawClient, text } from '../helpers/raw-client.js';

const busyApp = fileURLToPath(new URL('../fixtures/busy-app.js', import.meta.url));
const FLOOD = 1000;

for (const codec of CODEC_KINDS) {
  for (const workers of [0, 1]) {
    test(`a bystander is answered while another connection's single write of ${FLOOD} slow messages is still being handled [${codec}, ${workers === 0 ? 'inline' : '1 worker'}]`, async (t) => {
      t.timeout(120_000);
      const server = await listen({ port: 0, app: busyApp, workers, codec });
      t.teardown(() => server.close());
      const flooder = await RawClient.connect(server.port);
      const bystander = await RawClient.connect(server.port);
      t.teardown(() => { flooder.destroy(); bystander.destroy(); });

      // One write (~10 KB): the server reads it in one or a few reads, ~1 s of handler work.
      await flooder.send(...Array.from({ length: FLOOD }, (_, i) => text(`m${i}`)));
      // The first echo proves the flood is being handled; without a budget it would come only
      // once the whole read was handled.
      await flooder.nextFrame(60_000);
      await bystander.send(text('still there?'));
      t.is((await bystander.nextFrame(60_000)).payload.toString(), 'still there?');
      t.true(flooder.frames.length < FLOOD, `the flood was still being handled (${flooder.frames.length} of ${FLOOD} echoed)`);

      // Nothing of the flood is lost or reordered by yielding.
      const rest = await flooder.nextFrames(FLOOD - 1, 100_000);
      t.deepEqual([flooder.frames[0], ...rest].map((frame) => frame.payload.toString()), Array.from({ length: FLOOD }, (_, i) => `m${i}`));
    });
  }
}
