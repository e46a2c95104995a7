/**
 * A broadcast to compressed and uncompressed subscribers at once, on real sockets, inline and
 * with 1 and 2 workers (`pubsub` app, permessage-deflate with context takeover allowed): each
 * subscriber gets the right bytes. Subscribers without server context takeover get the one
 * compressed frame of the publish (the same bytes everywhere), those with it get their own
 * compression (inflated here with one stream per connection), the others plain frames.
 */
import test from 'ava';
import { once } from 'node:events';
import WebSocket from 'ws';
import { listen } from '../../src/server/server.js';
import { RawClient, text, Op, RSV1, type ServerFrame } from '../helpers/raw-client.js';
import { ContextInflater, inflate } from '../helpers/deflate.js';

/** The n-th (from 0) publish's delivery: the topic keeps history, so it carries its offset. */
const delivery = (data: string, n: number) => `{"type":"message","topic":"news.sport","data":${JSON.stringify(data)},"offset":${n + 1}}`;
const DATA = ['first '.repeat(400), 'second '.repeat(400), 'tiny', 'third '.repeat(400)];

async function subscribe(client: RawClient): Promise<void> {
  await client.send(text(JSON.stringify({ type: 'subscribe', topic: 'news.*' })));
  const reply = await client.nextFrame();
  if (!reply.payload.toString().includes('"subscribed"')) throw new Error(`unexpected reply ${reply.payload.toString()}`);
}

for (const workers of [0, 1, 2]) {
  test.serial(`a publish reaches compressed (shared and own) and uncompressed subscribers with the right bytes [${workers === 0 ? 'inline' : `${workers} worker${workers > 1 ? 's' : ''}`}]`, async (t) => {
    const server = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub', workers, deflate: { serverNoContextTakeover: false } });
    t.teardown(() => server.close());
    const shared = [
      await RawClient.connect(server.port, { extensions: 'permessage-deflate; server_no_context_takeover' }),
      await RawClient.connect(server.port, { extensions: 'permessage-deflate; server_no_context_takeover; client_max_window_bits' }),
    ];
    const own = await RawClient.connect(server.port, { extensions: 'permessage-deflate' });
    const plain = await RawClient.connect(server.port);
    const publisher = await RawClient.connect(server.port);
    const clients = [...shared, own, plain, publisher];
    t.teardown(() => { for (const client of clients) client.destroy(); });
    t.is(own.extensions, 'permessage-deflate; client_no_context_takeover', 'the server keeps context, the client resets');
    t.is(plain.extensions, undefined);
    for (const client of [...shared, own, plain]) await subscribe(client);
    const viaWs = new WebSocket(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: true });
    t.teardown(() => viaWs.terminate());
    await once(viaWs, 'open');
    const wsMessages: string[] = [];
    viaWs.on('message', (data) => wsMessages.push(String(data)));
    viaWs.send(JSON.stringify({ type: 'subscribe', topic: 'news.*' }));
    await new Promise<void>((resolve) => { const check = () => (wsMessages.length > 0 ? resolve() : setTimeout(check, 5)); check(); });

    for (const data of DATA) await publisher.send(text(JSON.stringify({ type: 'publish', topic: 'news.sport', data })));
    const expected = DATA.map(delivery);

    const compressedFlags = (frames: ServerFrame[]) => frames.map((f) => (f.rsv & RSV1) !== 0);
    const sharedFrames = await Promise.all(shared.map((client) => client.nextFrames(DATA.length)));
    for (const frames of sharedFrames) {
      t.deepEqual(compressedFlags(frames), [true, true, false, true], 'the 4-byte publish is under the threshold');
      t.deepEqual(frames.map((f) => ((f.rsv & RSV1) !== 0 ? inflate(f.payload) : f.payload).toString()), expected,
        'each compressed delivery inflates on its own: no context');
    }
    for (let i = 0; i < DATA.length; i++) t.true(sharedFrames[0][i].payload.equals(sharedFrames[1][i].payload), 'the same bytes for both');

    const ownFrames = await own.nextFrames(DATA.length);
    t.deepEqual(compressedFlags(ownFrames), [true, true, false, true]);
    const inflater = new ContextInflater();
    t.teardown(() => inflater.close());
    const ownMessages = [];
    for (const frame of ownFrames) ownMessages.push(((frame.rsv & RSV1) !== 0 ? await inflater.inflate(frame.payload) : frame.payload).toString());
    t.deepEqual(ownMessages, expected);

    const plainFrames = await plain.nextFrames(DATA.length);
    t.deepEqual(compressedFlags(plainFrames), [false, false, false, false]);
    t.deepEqual(plainFrames.map((f) => f.payload.toString()), expected);
    t.true(plainFrames.every((f) => f.opcode === Op.TEXT));

    await new Promise<void>((resolve) => { const check = () => (wsMessages.length > DATA.length ? resolve() : setTimeout(check, 5)); check(); });
    t.deepEqual(wsMessages.slice(1), expected, 'a ws subscriber with permessage-deflate reads them all');
    t.is((await server.stats()).pubsub.deliveries, DATA.length * 5);
  });
}
