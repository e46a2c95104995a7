/**
 * Socket reads straight into WASM linear memory: the one place that touches Node's socket
 * internals. It gives the socket's handle a user buffer (what `new net.Socket({ onread:
 * { buffer, callback } })` does, on a socket that already exists): libuv then reads into that
 * buffer, and the bytes reach `onRead` without a Buffer per read, a copy into the codec's
 * memory, or the stream machinery. Node 26, lib/net.js and lib/internal/stream_base_commons.js:
 * `onStreamRead` calls `socket[kBufferCb](nread, buffer)` when `socket[kBuffer]` is set, and
 * `handle.useUserBuffer(buffer)` makes the C++ side allocate every read from that buffer (and
 * abort unless the read landed there). pause()/resume() honour kBuffer (readStop/readStart);
 * end of stream still comes as 'end' and errors as 'error'.
 *
 * Buffer lifetime. One area serves every connection of the thread: libuv calls alloc, read and
 * the callback back to back, and onRead hands the bytes to the protocol, which copies out what
 * outlives the call (payloads, a partial header, what waits behind an async inflate) before the
 * next read can land. The codec never grows its memory once the area is handed out, so the raw
 * pointer the handle holds stays valid.
 *
 * Anything else keeps the plain 'data' path: the JS codec (no area), TLS sockets (bytes are
 * decrypted in JS), a socket that already holds bytes its stream buffered (they must come
 * first, in order), or a Node whose internals do not look like this.
 */
import { Socket } from 'node:net';

interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

/**
 * What a read of `nread` bytes into `area` is handed to, called as a method of the socket (so one
 * function can serve every socket); false pauses reading (as onread's callback).
 */
export type MemoryReadCallback = (this: Socket, nread: number, area: Uint8Array) => boolean | void;

interface ReadSymbols {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

/** The private symbols net.Socket keeps its onread option under, found once by their names. */
const symbols: ReadSymbols | undefined = findSymbols();

function findSymbols(): ReadSymbols | undefined {
  const probe = new Socket();
  const named = (name: string): symbol | undefined =>
    Object.getOwnPropertySymbols(probe).find((symbol) => symbol.description === name);
  const buffer = named('kBuffer'), callback = named('kBufferCb'), generator = named('kBufferGen');
  probe.destroy();
  if (buffer === undefined || callback === undefined || generator === undefined) return undefined;
  return { buffer, callback, generator };
}

/** True when this Node lets us read into memory of our own (checked once at load). */
export const memoryReadsSupported = symbols !== undefined;

/**
 * Makes `socket` read into `area` and report each read to `onRead` (the bytes are
 * area[0, nread)), instead of emitting 'data'. Returns false, changing nothing, when the socket
 * must keep the 'data' path. The caller resumes the socket to start reading.
 */
export function readIntoMemory(socket: Socket, area: Uint8Array, onRead: MemoryReadCallback): boolean {
  if (symbols === undefined || area.length === 0) return false;
  const internals = socket as unknown as Record<symbol, unknown> & { _handle?: Partial<UserBufferHandle> | null; encrypted?: boolean };
  if (internals.encrypted === true || internals[symbols.buffer] != null || socket.readableLength > 0) return false;
  const handle = internals._handle;
  if (handle == null || typeof handle.useUserBuffer !== 'function') return false;
  internals[symbols.callback] = onRead;
  internals[symbols.generator] = null;
  internals[symbols.buffer] = area;
  handle.useUserBuffer(area);
  return true;
}
