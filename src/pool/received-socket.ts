/**
 * A socket moved from the main thread arrives in the worker as Node 26 deserializes it: a
 * net.Socket whose properties are in dictionary mode, 2.2 KiB of heap where one that
 * net.Server's constructor call built takes 0.9 KiB (measured with 3 000 held). That difference
 * is most of what an idle connection costs a worker beyond inline. So the worker rebuilds it: a
 * new net.Socket around the same handle, made the way net.Server makes an accepted one, before
 * anything (a listener, a byte) reaches the received object, which is then dropped.
 */
import { Socket, type SocketConstructorOpts } from 'node:net';

interface HandleHolder {
  _handle: { readStart?: unknown } | null;
}

/**
 * The socket to serve: a fresh one around `received`'s handle, or `received` itself when it is
 * not a plain TCP socket that is paused with nothing read (nothing else is ever handed over).
 */
export function rebuiltSocket(received: Socket): Socket {
  const holder = received as unknown as HandleHolder;
  const handle = holder._handle;
  if (handle == null || typeof handle.readStart !== 'function' || received.destroyed
    || received.readableLength > 0 || received.listenerCount('data') > 0) return received;
  holder._handle = null;
  // `handle` and `pauseOnCreate` are the options net.Server itself passes; @types/node omits them.
  const options = { handle, allowHalfOpen: received.allowHalfOpen, pauseOnCreate: true, readable: true, writable: true };
  return new Socket(options as SocketConstructorOpts);
}
