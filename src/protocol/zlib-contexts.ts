/**
 * One zlib compressor and one decompressor per thread and parameter set, reset between messages,
 * for messages without a preset dictionary (no context takeover, the default).
 *
 * Why: Node's one-shot `deflateRawSync` / `inflateRawSync` make a zlib context per call (about
 * 300 KiB for a compressor at memLevel 8, 40 KiB for a decompressor, in pieces under glibc's mmap
 * threshold) and free it on return. Other allocations made between two messages land in those
 * holes, so each call's pieces come from fresh memory: idle connections held 24 KiB of RSS each
 * after one compressed message and 49 KiB after five, against 2 KiB of live memory
 * (test/measure/idle-deflate-memory.ts). A context kept and reset allocates nothing per message.
 *
 * Node's public zlib API reuses a context only through a stream, asynchronously. So this is the
 * one file that drives a zlib stream's native handle synchronously, as Node's own
 * `zlibBufferSync` does (lib/zlib.js `processChunkSync`): `_handle.writeSync(flush, in, inOff,
 * inLen, out, outOff, outLen)` with the results in `_writeState` ([availOutAfter, availInAfter]),
 * and `_handle.reset()` between messages. A zlib error destroys the stream (`errored` says why):
 * the context is dropped and the next message gets a fresh one.
 */
import { constants, createDeflateRaw, createInflateRaw } from 'node:zlib';

/** The native handle's calls used here (lib/zlib.js). */
interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void;
  reset(): void;
}

interface ZlibStreamInternals {
  _handle: ZlibHandle | null;
  _writeState: Uint32Array;
  destroyed: boolean;
  errored: Error | null;
  on(event: 'error', listener: () => void): unknown;
  close(): void;
}

/** Output is written here first, then copied into a buffer of its exact size. */
const SCRATCH_BYTES = 64 * 1024;
let scratch: Buffer | undefined;

/** The output would pass `maxOutput`: zlib stopped there. */
export const OUTPUT_TOO_LARGE = Symbol('output too large');

class ZlibContext {
  readonly #stream: ZlibStreamInternals;
  readonly #handle: ZlibHandle;

  constructor(stream: ZlibStreamInternals) {
    this.#stream = stream;
    // Errors are read from `errored` right after the call; the event comes later, to no one.
    stream.on('error', () => {});
    const handle = stream._handle;
    if (handle === null || typeof handle.writeSync !== 'function' || !(stream._writeState instanceof Uint32Array)) {
      throw new Error('this Node has no synchronous zlib handle');
    }
    this.#handle = handle;
  }

  get broken(): boolean {
    return this.#stream.destroyed;
  }

  /**
   * All of `input` through zlib with a sync flush: the output, OUTPUT_TOO_LARGE once it passes
   * `maxOutput`, or the zlib error thrown. The context is reset for the next message either way.
   */
  run(input: Uint8Array, maxOutput: number): Buffer | typeof OUTPUT_TOO_LARGE {
    const out = (scratch ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES));
    const state = this.#stream._writeState;
    const parts: Buffer[] = [];
    let total = 0;
    let inOff = 0;
    let inLen = input.length;
    try {
      for (;;) {
        this.#handle.writeSync(constants.Z_SYNC_FLUSH, input, inOff, inLen, out, 0, SCRATCH_BYTES);
        if (this.#stream.destroyed) throw this.#stream.errored ?? new Error('zlib failed');
        const availOut = state[0]!, availIn = state[1]!;
        const have = SCRATCH_BYTES - availOut;
        total += have;
        if (total > maxOutput) return OUTPUT_TOO_LARGE;
        if (have > 0) parts.push(Buffer.from(out.subarray(0, have)));
        inOff += inLen - availIn;
        inLen = availIn;
        // Output space left over: zlib has taken all it can of the input.
        if (availOut !== 0) break;
      }
    } finally {
      if (!this.#stream.destroyed) this.#handle.reset();
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
  }

  close(): void {
    this.#stream.close();
  }
}

const compressors = new Map<string, ZlibContext>();
const decompressors = new Map<number, ZlibContext>();

/** Runs `input` through the thread's context for `key`, made (again) by `make` when needed. */
function through<K>(contexts: Map<K, ZlibContext>, key: K, make: () => ZlibStreamInternals, input: Uint8Array, maxOutput: number): Buffer | typeof OUTPUT_TOO_LARGE {
  let context = contexts.get(key);
  if (context === undefined || context.broken) {
    context = new ZlibContext(make());
    contexts.set(key, context);
  }
  try {
    return context.run(input, maxOutput);
  } catch (error) {
    if (context.broken) contexts.delete(key);
    throw error;
  }
}

/** raw DEFLATE of a whole message with a sync flush, no preset dictionary. */
export function deflateRawFlushed(input: Uint8Array, windowBits: number, level: number, memLevel: number): Buffer {
  const make = () => createDeflateRaw({ windowBits, level, memLevel }) as unknown as ZlibStreamInternals;
  return through(compressors, `${windowBits}/${level}/${memLevel}`, make, input, Infinity) as Buffer;
}

/**
 * raw INFLATE of a whole message (its sync-flush tail appended), no preset dictionary; stops as
 * soon as the output passes `maxOutput`. Throws zlib's error for bad data.
 */
export function inflateRawFlushed(input: Uint8Array, windowBits: number, maxOutput: number): Buffer | typeof OUTPUT_TOO_LARGE {
  const make = () => createInflateRaw({ windowBits }) as unknown as ZlibStreamInternals;
  return through(decompressors, windowBits, make, input, maxOutput);
}
