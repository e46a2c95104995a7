/**
 * Moving an accepted socket to a worker: only its TCP handle crosses.
 *
 * Node 26 can transfer a net.Socket itself, but the worker then gets a socket built by
 * deserialization: its properties in dictionary mode, 2.2 KiB of heap where one that
 * net.Server's constructor call built takes 0.9 KiB, so the worker rebuilt it around its handle
 * and dropped it. Posting the handle alone (a TCP wrap, which Node transfers on its own) skips
 * that object and its deserialization: a net.Server whose worker holds the moved sockets went
 * from 3.8 to 2.2 KiB per connection of 10 000 (test/measure/idle-memory.ts), worker mode after
 * a storm from 11.0 to 10.0 KiB (bench:e2e, one run each). The main thread detaches the handle
 * as Node's own transfer does, and the worker builds the one socket the connection will have,
 * the way net.Server builds an accepted one.
 *
 * This module is the only place that reaches into `socket._handle` for the move.
 */
import { Socket, type SocketConstructorOpts } from 'node:net';

/** What crosses to the worker. `handle` is opaque here: Node's TCP wrap, moved by postMessage. */
export interface MovedSocket {
  handle: object;
  allowHalfOpen: boolean;
}

interface StreamHandle {
  reading?: boolean;
}

interface HandleHolder {
  _handle: StreamHandle | null;
}

/**
 * Takes the handle of a fresh socket (accepted paused, nothing read or written) for a move, and
 * destroys the socket so that any later use of it on this thread fails instead of losing data.
 * Undefined, with the socket untouched, when it is not such a socket: only a TCP handle that has
 * not started reading can be moved (Node's rule for its own transfer), and a socket told to
 * flow is about to read here.
 */
export function detachForMove(socket: Socket): MovedSocket | undefined {
  const holder = socket as unknown as HandleHolder;
  const handle = holder._handle;
  if (handle == null || handle.constructor.name !== 'TCP' || handle.reading === true || socket.readableFlowing === true
    || socket.destroyed || socket.readableLength > 0 || socket.writableLength > 0) return undefined;
  const moved = { handle, allowHalfOpen: socket.allowHalfOpen };
  holder._handle = null;
  socket.destroy();
  return moved;
}

/** The worker's socket around a moved handle, paused until the connection starts reading it. */
export function socketAround(moved: MovedSocket): Socket {
  // `handle` and `pauseOnCreate` are the options net.Server itself passes; @types/node omits them.
  const options = { handle: moved.handle, allowHalfOpen: moved.allowHalfOpen, pauseOnCreate: true, readable: true, writable: true };
  return new Socket(options as SocketConstructorOpts);
}
