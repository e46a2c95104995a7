/**
 * Hostile input to the pubsub application: every bad request gets an error reply
 * of bounded size, nothing closes the connection with 1011 or logs a stack, and no two
 * different topics can look or decode the same.
 */
import test from 'ava';
import WebSocket from 'ws';
import { listen } from '../../src/main-thread/server.js';
import { MAX_DATA_DEPTH } from '../../src/apps/pubsub.js';
import { PubsubClient } from '../helpers/pubsub-client.js';

const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

for (const workers of [0, 1]) {
  const mode = workers === 0 ? 'inline' : `${workers} worker`;

  test(`[${mode}] deeply nested JSON gets bad_json; the connection stays open and nothing is logged`, async (t) => {
    const lines: string[] = [];
    const server = await listen({ port: 0, app: 'pubsub', workers, log: (line) => lines.push(line) });
    t.teardown(() => server.close());
    const [client, subscriber] = await Promise.all([PubsubClient.connect(server.port), PubsubClient.connect(server.port)]);
    await subscriber.subscribe('deep');
    for (const depth of [MAX_DATA_DEPTH + 1, 100_000]) {
      t.like(await client.request(`{"type":"publish","topic":"deep","data":${nested(depth)}}`),
        { type: 'error', code: 'bad_json', message: `"data" is nested more than ${MAX_DATA_DEPTH} levels deep`, topic: 'deep' }, `depth ${depth}`);
    }
    t.like(await client.request(`{"type":${nested(100_000)}}`), { type: 'error', code: 'unknown_type', message: 'unknown message type object' });
    client.send(`{"type":"publish","topic":"deep","data":${nested(MAX_DATA_DEPTH)}}`);
    await subscriber.until(() => subscriber.deliveries.length === 1);
    t.is(JSON.stringify(subscriber.deliveries[0]!.data), nested(MAX_DATA_DEPTH), `${MAX_DATA_DEPTH} levels are delivered`);
    t.is(client.ws.readyState, WebSocket.OPEN);
    t.deepEqual(lines, []);
    client.close();
    subscriber.close();
  });

  test(`[${mode}] an error reply echoes a bad topic cut to 64 characters`, async (t) => {
    const server = await listen({ port: 0, app: 'pubsub', workers });
    t.teardown(() => server.close());
    const client = await PubsubClient.connect(server.port);
    t.deepEqual(await client.request({ type: 'subscribe', topic: 'x'.repeat(100_000) }),
      { type: 'error', code: 'topic_too_long', message: 'topic is over 256 bytes', topic: `${'x'.repeat(64)}…` });
    t.like(await client.request({ type: 'publish', topic: `a b${'y'.repeat(200)}`, data: 1 }), { code: 'bad_topic', topic: `a b${'y'.repeat(61)}…` });
    // A surrogate pair is not cut in two.
    t.like(await client.request({ type: 'subscribe', topic: `${'z'.repeat(63)}😀 ${'z'.repeat(10)}` }), { code: 'bad_topic', topic: `${'z'.repeat(63)}…` });
    const reply = await client.request({ type: 'x'.repeat(100_000) });
    t.is(reply.code, 'unknown_type');
    t.true((reply.message as string).length < 100, 'an unknown type is cut too');
    client.close();
  });

  test(`[${mode}] topics with bidi controls or zero-width characters are bad_topic`, async (t) => {
    const server = await listen({ port: 0, app: 'pubsub', workers });
    t.teardown(() => server.close());
    const client = await PubsubClient.connect(server.port);
    for (const topic of ['pay\u202eyap', 'news\u200b.sport', 'a\u2066b\u2069', 'a\u200db']) {
      t.like(await client.request({ type: 'subscribe', topic }), { type: 'error', code: 'bad_topic', topic }, JSON.stringify(topic));
      t.like(await client.request({ type: 'publish', topic, data: 1 }), { type: 'error', code: 'bad_topic', topic }, JSON.stringify(topic));
    }
    t.is((await server.stats()).pubsub.subscriptions, 0);
    client.close();
  });

  test(`[${mode}] a binary topic that is not valid UTF-8 is bad_topic, never the topic its U+FFFD decoding names`, async (t) => {
    const server = await listen({ port: 0, app: 'pubsub', workers });
    t.teardown(() => server.close());
    const [subscriber, client] = await Promise.all([PubsubClient.connect(server.port), PubsubClient.connect(server.port)]);
    await subscriber.subscribe('\ufffda'); // a real U+FFFD, sent as valid UTF-8
    for (const [op, bytes] of [[1, [0xff, 0x61]], [1, [0xc0, 0xaf, 0x61]], [2, [0xed, 0xa0, 0x80]], [3, [0x80]]] as const) {
      client.ws.send(Buffer.from([op, bytes.length, ...bytes, 0x21]));
    }
    await client.until(() => client.replies.length === 4);
    for (const reply of client.replies) t.deepEqual(reply, { type: 'error', code: 'bad_topic', message: 'topic is not valid UTF-8' });
    client.publish('\ufffda', 'the real one');
    await subscriber.until(() => subscriber.deliveries.length === 1);
    t.deepEqual(subscriber.deliveries, [{ topic: '\ufffda', data: 'the real one' }], 'the aliasing publishes were not delivered');
    t.is(subscriber.binary.length, 0);
    subscriber.close();
    client.close();
  });
}
