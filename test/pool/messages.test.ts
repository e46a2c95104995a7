/** The cross-thread wire: PortChannel batching and order, sockets and bytes that cross, requests. */
import test from 'ava';
import net from 'node:net';
import { once } from 'node:events';
import { MessageChannel, Worker } from 'node:worker_threads';
import { PendingRequests, PortChannel, type ToMain, type ToWorker } from '../../src/pool/messages.js';
import { detachForMove } from '../../src/pool/moved-socket.js';

test('messages sent in one turn arrive in one batch, in order, each as sent', async (t) => {
  const { port1, port2 } = new MessageChannel();
  const received: ToMain[] = [];
  let batches = 0;
  port2.on('message', () => { batches++; });
  new PortChannel<never, ToMain>(port2, (message) => received.push(message));
  const sender = new PortChannel<ToMain, never>(port1, () => {});
  const payload = Buffer.from('hello, subscribers');
  const sent: ToMain[] = [
    { type: 'ready', threadId: 7 },
    { type: 'publish', topic: 'news.sport', payload, isBinary: false },
    { type: 'pattern', pattern: 'news.>', added: true },
    { type: 'authorize', request: 3, upgrade: { method: 'GET', url: '/a?b=1', headers: { host: 'x' }, remoteAddress: '127.0.0.1', remotePort: 5000 } },
    { type: 'error', connection: 12, stack: 'Error: boom' },
    { type: 'closed', id: 12 },
    { type: 'shutdown-done' },
  ];
  for (const message of sent) sender.send(message);
  while (received.length < sent.length) await new Promise((resolve) => setTimeout(resolve, 5));
  t.is(batches, 1, 'one postMessage for the whole turn');
  t.deepEqual(received.map((m) => m.type), sent.map((m) => m.type));
  const publish = received[1] as Extract<ToMain, { type: 'publish' }>;
  t.deepEqual(Buffer.from(publish.payload), payload);
  t.deepEqual(received[3], sent[3]);
  sender.close();
});

test('a socket handed through the channel is served by the other thread from its first byte', async (t) => {
  const movedSocketModule = new URL('../../src/pool/moved-socket.js', import.meta.url).href;
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads');
    parentPort.once('message', async ({ port }) => {
      const { socketAround } = await import(${JSON.stringify(movedSocketModule)});
      port.on('message', (batch) => {
        for (const message of batch) {
          const socket = socketAround(message.socket);
          socket.on('data', (data) => socket.end('worker ' + message.id + ' read ' + data));
          socket.resume();
        }
      });
    });`, { eval: true });
  t.teardown(() => worker.terminate());
  const { port1, port2 } = new MessageChannel();
  worker.postMessage({ port: port2 }, [port2]);
  const channel = new PortChannel<ToWorker, never>(port1, () => {});
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    const moved = detachForMove(socket)!;
    channel.send({ type: 'socket', id: 42, socket: moved }, [moved.handle]);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.end('ping');
  let answer = '';
  client.on('data', (data) => { answer += data; });
  await once(client, 'close');
  t.is(answer, 'worker 42 read ping');
});

test('a pending request resolves with its answer, with undefined at its timeout or when cancelled', async (t) => {
  const requests = new PendingRequests<string>();
  const answered = requests.create(60_000);
  const timedOut = requests.create(10);
  const cancelled = requests.create(60_000);
  requests.settle(answered.id, 'yes');
  requests.settle(answered.id, 'twice'); // a late duplicate is ignored
  t.is(await answered.answer, 'yes');
  t.is(await timedOut.answer, undefined);
  requests.cancelAll();
  t.is(await cancelled.answer, undefined);
  t.not(answered.id, timedOut.id);
});
