/**
 * Moving an accepted socket by its TCP handle (src/pool/moved-socket.ts). A MessageChannel
 * inside this thread moves a handle exactly as postMessage to a worker does, so these tests need
 * no worker; the conformance and pool suites run the same path through real workers.
 */
import test from 'ava';
import { once } from 'node:events';
import net, { type Socket } from 'node:net';
import { MessageChannel } from 'node:worker_threads';
import { detachForMove, socketAround, type MovedSocket } from '../../src/pool/moved-socket.js';

/** Listens paused and half-open (as our server does); `accepted` gives the next accepted socket and its client. */
async function pausedServer(): Promise<{ accepted: () => Promise<{ socket: Socket; client: Socket }>; close: () => void }> {
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const clients: Socket[] = [];
  return {
    accepted: async () => {
      const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      clients.push(client);
      const [socket] = await once(server, 'connection') as [Socket];
      return { socket, client };
    },
    close: () => {
      for (const client of clients) client.destroy();
      server.close();
    },
  };
}

test('a socket moved by its handle works on the other side: bytes both ways, addresses, end and close', async (t) => {
  const server = await pausedServer();
  t.teardown(server.close);
  const { socket: source, client } = await server.accepted();
  const sourceClosed = once(source, 'close');
  const moved = detachForMove(source);
  if (moved === undefined) return t.fail('a fresh paused socket must be movable');
  t.true(source.destroyed, 'the source socket is destroyed, so nothing can use it on this thread');
  await sourceClosed;

  const { port1, port2 } = new MessageChannel();
  t.teardown(() => port1.close());
  port1.postMessage(moved, [moved.handle as never]);
  const [received] = await once(port2, 'message') as [MovedSocket];
  const socket = socketAround(received);
  t.true(socket instanceof net.Socket);
  t.is(socket.remoteAddress, '127.0.0.1');
  t.is(socket.remotePort, client.localPort);
  t.true(socket.allowHalfOpen, 'its setting came across');
  socket.on('data', (chunk: Buffer) => socket.write(Buffer.concat([Buffer.from('echo '), chunk])));
  socket.resume();
  client.write('hello');
  const [reply] = await once(client, 'data') as [Buffer];
  t.is(reply.toString(), 'echo hello');
  const ended = once(socket, 'end');
  const closed = once(socket, 'close');
  client.end();
  await ended;
  socket.end();
  await closed;
  t.true(socket.destroyed);
});

test('a socket that has started reading, holds bytes or is destroyed is not detached, and stays usable', async (t) => {
  const server = await pausedServer();
  t.teardown(server.close);

  const reading = await server.accepted();
  reading.socket.resume();
  t.is(detachForMove(reading.socket), undefined, 'reading');
  reading.client.write('still here');
  const [chunk] = await once(reading.socket, 'data') as [Buffer];
  t.is(chunk.toString(), 'still here', 'the refused socket still reads');

  const buffered = await server.accepted();
  buffered.socket.unshift(Buffer.from('already read'));
  t.is(detachForMove(buffered.socket), undefined, 'bytes are buffered');
  t.false(buffered.socket.destroyed);

  const destroyed = await server.accepted();
  destroyed.socket.destroy();
  t.is(detachForMove(destroyed.socket), undefined, 'destroyed');
});
