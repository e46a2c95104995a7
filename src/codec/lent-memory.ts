/**
 * Memory a codec reuses from read to read (WASM linear memory, where sockets read and frames are
 * unmasked in place): bytes that lie in it are lent, valid until the next read of any of the
 * thread's connections. Whatever would keep such bytes (a queued socket write, a publish) copies
 * them first. Kept per thread (module state), for every codec of the thread, so that a view one
 * server lent is recognised by another.
 */
const reusedMemory = new WeakSet<ArrayBuffer>();

/** The codec reads into `memory` and overwrites it at the next read. */
export function noteReusedMemory(memory: ArrayBuffer): void {
  reusedMemory.add(memory);
}

/** True when `bytes` lie in memory a codec of this thread reuses. */
export function isLent(bytes: Uint8Array): boolean {
  return reusedMemory.has(bytes.buffer as ArrayBuffer);
}
