/**
 * messageView: a handler's `data` is a view of the bytes read (with the wasm codec, memory the
 * next read of any connection overwrites). What the handler sends or publishes from it during the
 * call must reach the peer intact whichever way the socket's write goes: taken by the kernel at
 * once, taken in part, or queued behind a client that stopped reading (real sockets, raw clients).
 */
import test from 'ava';
import { listen } from '../../src/main-thread/server.js';
import { loadApplication, type Application } from '../../src/apps/app.js';
import { CODEC_KINDS } from '../helpers/codecs.js';
import { RawClient, binary, pattern, text } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';
import { writeAppModule } from '../helpers/app-module.js';
import { isLent } from '../../src/codec/lent-memory.js';

/** Small, so that the server's queue passes it (and it stops reading) soon after the kernel's buffers fill. */
const HIGH_WATER_MARK = 64 * 1024;
const SIZE = 16 * 1024;
/** 12.5 MiB: more than the loopback socket buffers of both sides hold, so writes must queue. */
const COUNT = 800;

for (const [codec, streamed] of CODEC_KINDS.flatMap((kind) => [[kind, false], [kind, true]] as const)) {
  // Back to back, 200 KiB messages mostly span reads: views of the buffers the thread reuses.
  const [size, count] = streamed ? [200 * 1024, 64] : [SIZE, COUNT];
  const how = streamed ? '200 KiB sent back to back' : '16 KiB, each in a read of its own';
  test(`[${codec}] with messageView, views echoed to a client that stops reading arrive intact and in order: ${how}`, async (t) => {
    let handled = 0, lentViews = 0, queuedPastMark = false;
    const app: Application = {
      message(conn, data, isBinary) {
        handled++;
        if (isLent(data)) lentViews++;
        conn.send(data, isBinary);
        // The kernel took less than was sent: the rest went out copied, and reading stops.
        if (conn.bufferedAmount > HIGH_WATER_MARK) queuedPastMark = true;
      },
    };
    const server = await listen({ port: 0, codec, app, messageView: true, highWaterMark: HIGH_WATER_MARK });
    t.teardown(() => server.close());
    const client = await RawClient.connect(server.port);
    t.teardown(() => client.destroy());
    client.pause();
    const payloads = Array.from({ length: count }, (_, i) => pattern(size, i + 1));
    let sent = 0;
    // One message at a time while the server reads, so that each arrives in a read of its own
    // (a view of the read area with the wasm codec) and the next read overwrites it; or all at once.
    while (sent < count && !queuedPastMark && !streamed) {
      void client.send(binary(payloads[sent++]!));
      await waitFor(() => handled === sent || queuedPastMark, 20_000, 1);
    }
    while (sent < count) void client.send(binary(payloads[sent++]!));
    await waitFor(() => queuedPastMark, 20_000);
    t.true(queuedPastMark, "the server's queue passed its high-water mark while the client did not read");
    if (codec === 'wasm' || streamed) t.true(lentViews > 0, 'handlers were given views of memory the server reuses');
    client.resume();
    const frames = await client.nextFrames(count);
    t.deepEqual(frames.map((frame, i) => frame.payload.equals(payloads[i]!) ? i : `message ${i} differs`), payloads.map((_, i) => i));
  });
}

for (const codec of CODEC_KINDS) {
  test(`[${codec}] with messageView, a view published to a subscriber that stops reading arrives intact`, async (t) => {
    let publishes = 0;
    const app: Application = {
      message(conn, data, isBinary) {
        if (!isBinary) {
          conn.subscribe(data.toString());
          conn.send('subscribed');
          return;
        }
        conn.publish('views', data);
        publishes++;
      },
    };
    const server = await listen({ port: 0, codec, app, messageView: true, highWaterMark: HIGH_WATER_MARK });
    t.teardown(() => server.close());
    const subscriber = await RawClient.connect(server.port);
    const publisher = await RawClient.connect(server.port);
    t.teardown(() => { subscriber.destroy(); publisher.destroy(); });
    await subscriber.send(text('views'));
    t.is((await subscriber.nextFrame()).payload.toString(), 'subscribed');
    subscriber.pause();
    const payloads = Array.from({ length: 32 }, (_, i) => pattern(SIZE, 1000 + i));
    for (const payload of payloads) void publisher.send(binary(payload));
    await waitFor(() => publishes === payloads.length, 20_000);
    t.is(publishes, payloads.length, 'every message was published while the subscriber did not read');
    subscriber.resume();
    const frames = await subscriber.nextFrames(payloads.length);
    t.deepEqual(frames.map((frame, i) => frame.payload.equals(payloads[i]!) ? i : `message ${i} differs`), payloads.map((_, i) => i));
  });
}

test('[wasm] an application that declares messageView gets views without the option; one that does not gets Buffers of its own', async (t) => {
  const lent: boolean[] = [];
  const app = (messageView: boolean): Application => ({
    messageView,
    message(conn, data, isBinary) {
      lent.push(isLent(data));
      conn.send(data, isBinary);
    },
  });
  for (const declares of [true, false]) {
    lent.length = 0;
    const server = await listen({ port: 0, codec: 'wasm', app: app(declares) });
    const client = await RawClient.connect(server.port);
    const payload = pattern(SIZE, 7);
    await client.send(binary(payload));
    t.true((await client.nextFrame()).payload.equals(payload), 'echoed intact');
    t.deepEqual(lent, [declares], declares ? 'a view' : 'its own Buffer');
    client.destroy();
    await server.close();
  }
});

test('an application module whose messageView is not a boolean is refused when loaded', async (t) => {
  await t.throwsAsync(loadApplication(writeAppModule(t, 'export default { messageView: "yes", message() {} };\n')), { instanceOf: TypeError, message: /messageView must be a boolean/ });
});
