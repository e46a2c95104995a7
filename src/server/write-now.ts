/**
 * A write that is over when it returns: what the kernel takes of `chunks` now, with one
 * writev(2) on the socket's descriptor, and nothing kept. A socket's write() keeps its chunks
 * until the kernel has taken them all, and a message view lies in memory the next read
 * overwrites: it can go out without a copy only this way (the way uWebSockets writes: to the
 * socket first, a copy of the rest only when the kernel does not take everything).
 *
 * The caller writes only when nothing is queued on the socket (its writableLength is 0), so the
 * bytes cannot overtake earlier ones, and queues the rest (copied) through the socket itself.
 * TLS sockets (bytes are encrypted in JS) and handles without a descriptor take nothing here.
 */
import { writevSync } from 'node:fs';
import type { Socket } from 'node:net';

/** Bytes written (0 when the kernel's buffer is full, the socket is gone, or it has no descriptor). */
export function writeNow(socket: Socket, chunks: Uint8Array[]): number {
  const internals = socket as unknown as { _handle?: { fd?: number } | null; encrypted?: boolean };
  const fd = internals._handle?.fd;
  if (fd === undefined || fd < 0 || internals.encrypted === true) return 0;
  try {
    return writevSync(fd, chunks);
  } catch {
    // EAGAIN (the kernel's buffer is full) or a broken connection: the socket's own write queues
    // the bytes or reports the error as it would have.
    return 0;
  }
}
