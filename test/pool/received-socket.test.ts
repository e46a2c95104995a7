/**
 * A socket moved to another thread is rebuilt around its handle (src/pool/received-socket.ts).
 * A MessageChannel inside this thread moves it exactly as postMessage to a worker does (the
 * received socket is the same dictionary-mode object), so these tests need no worker.
 */
import test from 'ava';
import { once } from 'node:events';
import net, { type Socket } from 'node:net';
import { MessageChannel } from 'node:worker_threads';
import { rebuiltSocket } from '../../src/pool/received-socket.js';

/** Accepts one connection paused, moves its socket through a MessageChannel, and gives both ends. */
async function movedSocket(): Promise<{ received: Socket; client: Socket; close: () => void }> {
  const { port1, port2 } = new MessageChannel();
  const server = net.createServer({ pauseOnConnect: true }, (socket) => port1.postMessage({ socket }, [socket as never]));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [{ socket: received }] = await once(port2, 'message') as [{ socket: Socket }];
  return {
    received,
    client,
    close: () => {
      client.destroy();
      server.close();
      port1.close();
    },
  };
}

test('a moved socket is rebuilt around its handle: bytes flow both ways, addresses and end/close work', async (t) => {
  const { received, client, close } = await movedSocket();
  t.teardown(close);
  const socket = rebuiltSocket(received);
  t.not(socket, received);
  t.true(socket instanceof net.Socket);
  t.is(socket.remoteAddress, '127.0.0.1');
  t.is(socket.remotePort, client.localPort);
  socket.on('data', (chunk: Buffer) => socket.write(Buffer.concat([Buffer.from('echo '), chunk])));
  socket.resume();
  client.write('hello');
  const [reply] = await once(client, 'data') as [Buffer];
  t.is(reply.toString(), 'echo hello');
  const ended = once(socket, 'end');
  const closed = once(socket, 'close');
  client.end();
  await ended;
  socket.end(); // the server's sockets allow half-open connections: the link answers FIN with FIN
  await closed;
  t.true(socket.destroyed);
});

test('a moved socket that is not plain and paused with nothing read is served as it came', async (t) => {
  const withListener = await movedSocket();
  t.teardown(withListener.close);
  const listener = (): void => {};
  withListener.received.on('data', listener);
  t.is(rebuiltSocket(withListener.received), withListener.received, 'a data listener is attached');
  withListener.received.off('data', listener);

  const buffered = await movedSocket();
  t.teardown(buffered.close);
  buffered.received.unshift(Buffer.from('already read'));
  t.is(rebuiltSocket(buffered.received), buffered.received, 'bytes are buffered');

  const destroyed = await movedSocket();
  t.teardown(destroyed.close);
  destroyed.received.destroy();
  t.is(rebuiltSocket(destroyed.received), destroyed.received, 'destroyed');
});
