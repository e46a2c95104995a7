/**
 * The payload of a data message that does not arrive whole in one read: one growing buffer,
 * never an object per fragment or per read. A peer may split a message into as many frames as
 * it likes (RFC 6455 §5.4; Autobahn 9.3/9.4 send 65 536 of them), so the memory a message costs
 * is its payload bytes times at most 2 (amortised doubling), never a Buffer per 1-byte fragment.
 * A large buffer grows by ArrayBuffer transfer(), which frees the buffer it grew from at once: a
 * copy would leave it (half the new one) to the next GC, and a message of few large reads makes
 * little garbage, so that GC may come only after the message has grown again.
 */

import { noteReusedMemory } from '../codec/lent-memory.js';

/** The capacity a first allocation starts from when nothing better is known. */
const MIN_CAPACITY_BYTES = 256;
/** Shorter ranges are copied byte by byte: cheaper than the view that TypedArray.set needs. */
const COPY_BY_BYTE_MAX = 64;
/** From this size on, a buffer is an ArrayBuffer of its own (never Buffer's shared pool), grown by transfer(). */
const TRANSFER_FROM_BYTES = 64 * 1024;

/** ES2024's ArrayBuffer.prototype.transfer (Node ≥ 21), beyond the ES2022 library this project compiles against. */
type TransferableArrayBuffer = ArrayBuffer & { transfer(newByteLength: number): ArrayBuffer };

/**
 * A lending assembly (messageView) hands its message to the handler as a view and gets the
 * buffer back: buffers from LENT_MIN_BYTES to LENT_MAX_BYTES are then kept by the thread for the
 * next message that spans reads, of any connection (up to LENT_SPARE_BYTES of them), so that
 * such messages cost no allocation either (smaller ones come from Node's pool). They are lent
 * memory (codec/lent-memory.ts): a send copies what it would keep of them.
 */
const LENT_MIN_BYTES = 16 * 1024;
const LENT_MAX_BYTES = 256 * 1024;
const LENT_SPARE_BYTES = 1024 * 1024;
const spares: Buffer[] = [];
let spareBytes = 0;

function takeSpare(size: number): Buffer {
  for (let i = spares.length - 1; i >= 0; i--) {
    const spare = spares[i]!;
    if (spare.length < size) continue;
    spares[i] = spares[spares.length - 1]!;
    spares.pop();
    spareBytes -= spare.length;
    return spare;
  }
  // Its own memory, not a slice of Node's pool: all of it is lent, and nothing else is.
  const buffer = Buffer.allocUnsafeSlow(size);
  noteReusedMemory(buffer.buffer);
  return buffer;
}

function giveBackSpare(buffer: Buffer): void {
  if (spareBytes + buffer.length > LENT_SPARE_BYTES) return;
  spares.push(buffer);
  spareBytes += buffer.length;
}

export class MessageAssembly {
  /** The message's bytes so far are buffer[0, filled). */
  #buffer: Buffer | undefined;
  #filled = 0;
  /** No message is larger than this (maxPayload), so no buffer needs to be either. */
  readonly #limit: number;
  /** Messages may be lent (see lend()); #buffer is then a thread's spare when #bufferIsSpare. */
  readonly #lends: boolean;
  #bufferIsSpare = false;
  /** The buffer of the message lent by lend(), until giveBack(). */
  #lent: Buffer | undefined;

  constructor(limit: number, lends = false) {
    this.#limit = limit;
    this.#lends = lends;
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
    const spare = this.#lends && grown >= LENT_MIN_BYTES && grown <= LENT_MAX_BYTES;
    if (!spare && old !== undefined && !this.#bufferIsSpare && capacity >= TRANSFER_FROM_BYTES) {
      // Copies the bytes into a new backing store and frees the old one now (old is detached).
      this.#buffer = Buffer.from((old.buffer as TransferableArrayBuffer).transfer(grown));
      return;
    }
    const buffer = spare ? takeSpare(grown) : grown >= TRANSFER_FROM_BYTES ? Buffer.allocUnsafeSlow(grown) : Buffer.allocUnsafe(grown);
    if (this.#filled > 0) old!.copy(buffer, 0, 0, this.#filled);
    if (old !== undefined && this.#bufferIsSpare) giveBackSpare(old);
    this.#buffer = buffer;
    this.#bufferIsSpare = spare;
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
    this.#bufferIsSpare = false;
    this.#filled = 0;
    if (buffer === undefined) return Buffer.alloc(0);
    return filled === buffer.length ? buffer : buffer.subarray(0, filled);
  }

  /** True when the message is in a thread's spare buffer: lend() and giveBack() instead of take(). */
  get canLend(): boolean {
    return this.#bufferIsSpare;
  }

  /** The message's bytes, valid until giveBack(); the assembly is empty again. */
  lend(): Buffer {
    const buffer = this.#buffer!;
    const filled = this.#filled;
    this.#lent = buffer;
    this.#buffer = undefined;
    this.#bufferIsSpare = false;
    this.#filled = 0;
    return buffer.subarray(0, filled);
  }

  /** The lent message is no longer used: its buffer serves the thread's next one. */
  giveBack(): void {
    if (this.#lent !== undefined) giveBackSpare(this.#lent);
    this.#lent = undefined;
  }

  /** Forgets the message (the connection failed). */
  clear(): void {
    if (this.#buffer !== undefined && this.#bufferIsSpare) giveBackSpare(this.#buffer);
    this.#buffer = undefined;
    this.#bufferIsSpare = false;
    this.#filled = 0;
  }
}
