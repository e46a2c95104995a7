/**
 * Topic permissions through the pubsub application: the default public topics,
 * `topicsPublic`, and an application's canSubscribe/canPublish hooks with the `conn.data` its
 * `upgrade` gave. A refusal is a `forbidden` error reply; the connection stays open.
 */
import test from 'ava';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { listen } from '../../src/main-thread/server.js';
import { encodeBinaryRequest } from '../../src/apps/pubsub.js';
import { PubsubClient } from '../helpers/pubsub-client.js';

const permissionsApp = fileURLToPath(new URL('../fixtures/permissions-app.js', import.meta.url));

for (const workers of [0, 1]) {
  const mode = workers === 0 ? 'inline' : `${workers} worker`;

  test(`[${mode}] by default nobody subscribes to > or another root wildcard; named topics work as before`, async (t) => {
    const server = await listen({ port: 0, app: 'pubsub', workers });
    t.teardown(() => server.close());
    const [client, publisher] = await Promise.all([PubsubClient.connect(server.port), PubsubClient.connect(server.port)]);
    for (const pattern of ['>', '*', '*.sport', '*.>']) {
      t.deepEqual(await client.request({ type: 'subscribe', topic: pattern }),
        { type: 'error', code: 'forbidden', message: 'this connection may not subscribe to this pattern', topic: pattern });
    }
    client.ws.send(encodeBinaryRequest('subscribe', '>'));
    await client.until(() => client.replies.length === 5);
    t.like(client.replies[4], { type: 'error', code: 'forbidden', topic: '>' });
    await client.subscribe('news.>');
    publisher.publish('news.sport', 'goal');
    await client.until(() => client.deliveries.length === 1);
    t.deepEqual(client.deliveries, [{ topic: 'news.sport', data: 'goal' }]);
    t.is(client.ws.readyState, WebSocket.OPEN);
    t.is((await server.stats()).pubsub.forbidden, 5);
    client.close();
    publisher.close();
  });

  test(`[${mode}] topicsPublic limits what clients may publish and subscribe to`, async (t) => {
    const server = await listen({ port: 0, app: 'pubsub', workers, topicsPublic: ['news', 'room.*'] });
    t.teardown(() => server.close());
    const client = await PubsubClient.connect(server.port);
    t.like(await client.request({ type: 'subscribe', topic: 'weather.>' }), { type: 'error', code: 'forbidden' });
    t.like(await client.request({ type: 'subscribe', topic: 'room.*' }), { type: 'error', code: 'forbidden' }, 'room.* would read every room');
    await client.subscribe('room.7');
    await client.subscribe('news.>');
    t.like(await client.request({ type: 'publish', topic: 'weather.today', data: 1 }),
      { type: 'error', code: 'forbidden', message: 'this connection may not publish to this topic', topic: 'weather.today' });
    client.ws.send(encodeBinaryRequest('publish', 'weather.today', Buffer.from([1])));
    await client.until(() => client.replies.length === 6);
    t.like(client.replies[5], { type: 'error', code: 'forbidden', topic: 'weather.today' });
    client.publish('room.7', 'hi');
    client.publish('news.sport', 'goal');
    await client.until(() => client.deliveries.length === 2);
    t.deepEqual(client.deliveries.map((d) => d.topic), ['room.7', 'news.sport']);
    t.is((await server.stats()).pubsub.forbidden, 4);
    client.close();
  });

  test(`[${mode}] an application's canSubscribe/canPublish hooks decide with the connection's data`, async (t) => {
    const server = await listen({ port: 0, app: permissionsApp, workers });
    t.teardown(() => server.close());
    const [ann, bob] = await Promise.all([PubsubClient.connect(server.port, '/?user=ann'), PubsubClient.connect(server.port, '/?user=bob')]);
    await ann.subscribe('user.ann.>');
    await ann.subscribe('news.>');
    t.like(await ann.request({ type: 'subscribe', topic: 'user.bob.>' }), { type: 'error', code: 'forbidden' });
    t.like(await ann.request({ type: 'publish', topic: 'news.fake', data: 'x' }), { type: 'error', code: 'forbidden' });
    await bob.subscribe('user.bob.>');
    t.like(await bob.request({ type: 'publish', topic: 'user.ann.inbox', data: 'x' }), { type: 'error', code: 'forbidden', topic: 'user.ann.inbox' });
    t.like(await ann.request({ type: 'publish', topic: 'user.bob.inbox', data: 'x' }), { type: 'error', code: 'forbidden', topic: 'user.bob.inbox' });
    bob.publish('user.bob.notes', 'for bob only');
    await bob.until(() => bob.deliveries.length === 1);
    t.deepEqual(bob.deliveries, [{ topic: 'user.bob.notes', data: 'for bob only' }]);
    ann.publish('user.ann.inbox', 'note to self');
    await ann.until(() => ann.deliveries.length === 1);
    t.deepEqual(ann.deliveries, [{ topic: 'user.ann.inbox', data: 'note to self' }]);
    ann.close();
    bob.close();
  });
}

test('topicsPublic is checked up front', async (t) => {
  await t.throwsAsync(listen({ port: 0, topicsPublic: ['news.>'] }), { instanceOf: TypeError, message: /option topicsPublic: "news.>" is not a topic prefix/ });
  await t.throwsAsync(listen({ port: 0, topicsPublic: 'news' as never }), { instanceOf: TypeError, message: /array of topic prefixes/ });
});
