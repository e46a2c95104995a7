/**
 * The payload of a data message that does not arrive whole in one read: one growing buffer,
 * never an object per fragment or per read. A peer may split a message into as many frames as
 * it likes (RFC 6455 §5.4; Autobahn 9.3/9.4 send 65 536 of them), so the memory a message costs
 * is its payload bytes times at most 2 (amortised doubling), never a Buffer per 1-byte fragment.
 * A large buffer grows by ArrayBuffer transfer(), which frees the buffer it grew from at once: a
 * copy would leave it (half the new one) to the next GC, and a message of few large reads makes
 * little garbage, so that GC may come only after the message has grown again.
 */

/** The capacity a first allocation starts from when nothing better is known. */
const MIN_CAPACITY_BYTES = 256;
/** Shorter ranges are copied byte by byte: cheaper than the view that TypedArray.set needs. */
const COPY_BY_BYTE_MAX = 64;
/** From this size on, a buffer is an ArrayBuffer of its own (never Buffer's shared pool), grown by transfer(). */
const TRANSFER_FROM_BYTES = 64 * 1024;

/** ES2024's ArrayBuffer.prototype.transfer (Node ≥ 21), beyond the ES2022 library this project compiles against. */
type TransferableArrayBuffer = ArrayBuffer & { transfer(newByteLength: number): ArrayBuffer };

export class MessageAssembly {
  /** The message's bytes so far are buffer[0, filled). */
  #buffer: Buffer | undefined;
  #filled = 0;
  /** No message is larger than this (maxPayload), so no buffer needs to be either. */
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get length(): number {
    return this.#filled;
  }

  /** Bytes this assembly holds, received or reserved: what the message costs in memory. */
  get capacity(): number {
    return this.#buffer?.length ?? 0;
  }

  /**
   * Makes room for `more` bytes after those received. A message that turns out to be one frame
   * gets a buffer of its exact size (the first reservation is the frame's length); later ones
   * double the capacity, so copying stays linear in the message size whatever the fragmentation.
   */
  reserve(more: number): void {
    const needed = this.#filled + more;
    const capacity = this.#buffer?.length ?? 0;
    if (needed <= capacity) return;
    const grown = capacity === 0 ? needed : Math.max(needed, Math.min(capacity * 2, this.#limit));
    const old = this.#buffer;
    if (old !== undefined && capacity >= TRANSFER_FROM_BYTES) {
      // Copies the bytes into a new backing store and frees the old one now (old is detached).
      this.#buffer = Buffer.from((old.buffer as TransferableArrayBuffer).transfer(grown));
      return;
    }
    const buffer = grown >= TRANSFER_FROM_BYTES ? Buffer.allocUnsafeSlow(grown) : Buffer.allocUnsafe(grown);
    if (this.#filled > 0) old!.copy(buffer, 0, 0, this.#filled);
    this.#buffer = buffer;
  }

  /**
   * Copies source[start, start + length) (all of `source` by default) after the bytes received:
   * the caller may reuse or overwrite `source` afterwards. A range, not a view of it: a message
   * of millions of one-byte fragments would otherwise make a typed array per fragment.
   */
  append(source: Uint8Array, start = 0, length = source.length - start): void {
    if (length === 0) return;
    const capacity = this.#buffer?.length ?? 0;
    if (this.#filled + length > capacity) {
      // A frame larger than the caller reserved for (a large frame trickling in): grow by doubling.
      this.reserve(Math.max(length, Math.min(MIN_CAPACITY_BYTES, this.#limit - this.#filled)));
    }
    const buffer = this.#buffer!;
    const filled = this.#filled;
    if (length < COPY_BY_BYTE_MAX) {
      for (let i = 0; i < length; i++) buffer[filled + i] = source[start + i]!;
    } else {
      buffer.set(start === 0 && length === source.length ? source : source.subarray(start, start + length), filled);
    }
    this.#filled = filled + length;
  }

  /** The message's bytes, which now belong to the caller; the assembly is empty again. */
  take(): Buffer {
    const buffer = this.#buffer;
    const filled = this.#filled;
    this.#buffer = undefined;
    this.#filled = 0;
    if (buffer === undefined) return Buffer.alloc(0);
    return filled === buffer.length ? buffer : buffer.subarray(0, filled);
  }

  /** Forgets the message (the connection failed). */
  clear(): void {
    this.#buffer = undefined;
    this.#filled = 0;
  }
}
