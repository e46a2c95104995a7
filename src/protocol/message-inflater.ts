/**
 * Incoming permessage-deflate (RFC 7692 §7.2.2): a whole compressed message in, the message or
 * the ProtocolError it fails with out. The limit applies to the inflated size (a zip bomb stops
 * as soon as it passes the limit, the rest is never inflated), and the UTF-8 of a text message
 * is checked on the inflated bytes, fail-fast per inflated chunk.
 *
 * Sync first, async for large output (test/measure/zlib-costs.ts, this 2-core machine, Node 26,
 * zlib 1.3): inflateRawSync of a 1 KiB message costs 7-14 µs of event-loop time, 20 µs at
 * 16 KiB, while the async inflateRaw costs 35-65 µs of it plus a thread-pool round trip. But
 * inflating is not bounded by the input: 16 KiB of deflated zeros inflate to 16 MiB, 5-100 ms
 * of work. So a message is inflated synchronously while its output fits SYNC_INFLATE_BYTES
 * (stopping there costs about 1.5 ms at worst), and one that does not fit starts again on the
 * thread pool, where it holds up no other connection; the caller stops reading from this one
 * meanwhile and keeps what follows in order. There it is measured first and inflated second,
 * once the thread's inflate budget (inflate-budget.ts) has room for exactly its size: many
 * connections' large messages together hold no more than that budget.
 */
import { isUtf8 } from 'node:buffer';
import { constants, createInflateRaw, inflateRawSync } from 'node:zlib';
import { UTF8_ACCEPT, UTF8_REJECT } from '../codec/codec.js';
import { CloseCode } from './close-codes.js';
import { invalidUtf8, ProtocolError } from './errors.js';
import { validateTextSegment } from './utf8-validator.js';
import { slideWindow, type DeflateDirection } from './compression.js';
import type { InflateBudget, InflateReservation } from './inflate-budget.js';
import { inflateRawFlushed, OUTPUT_TOO_LARGE } from './zlib-contexts.js';

/** Largest output inflated on the event loop in one call (at most about 1.5 ms here). */
export const SYNC_INFLATE_BYTES = 256 * 1024;
/**
 * Output chunk of the measuring pass: the unit of its fail-fast size and UTF-8 checks. At least
 * glibc's mmap threshold (128 KiB), so that each chunk, garbage at once, is its own mapping and
 * goes back to the OS when collected instead of leaving holes in a malloc arena.
 */
const MEASURE_CHUNK_BYTES = 256 * 1024;

/** The inflated message, or the error the connection fails with. */
export type InflateOutcome = Buffer | ProtocolError;

export class MessageInflater {
  readonly #direction: DeflateDirection;
  /**
   * With context takeover: the last 2^windowBits bytes of the messages received compressed,
   * which the peer's compressor may refer back to (§7.1.1.2).
   */
  #window: Buffer | undefined;

  constructor(direction: DeflateDirection) {
    this.#direction = direction;
  }

  /**
   * `compressed` is the whole message's payload followed by SYNC_FLUSH_TAIL (RFC 7692 §7.2.2),
   * in one buffer the inflater may keep until it is done.
   *
   * Inflates a message whose output fits SYNC_INFLATE_BYTES right away. Returns undefined when
   * the output is larger and still within `maxBytes`: then the message goes to inflateAsync().
   */
  inflateSync(compressed: Uint8Array, maxBytes: number, isText: boolean): InflateOutcome | undefined {
    const cap = Math.min(maxBytes, SYNC_INFLATE_BYTES);
    let message: Buffer;
    try {
      const inflated = this.#inflateCapped(compressed, Math.max(cap, 1));
      if (inflated === undefined) return cap === maxBytes ? tooBig(maxBytes) : undefined;
      message = inflated;
    } catch (error) {
      return corruptData(error as Error);
    }
    if (message.length > maxBytes) return tooBig(maxBytes);
    if (isText && !isUtf8(message)) return invalidUtf8();
    this.#remember(message);
    return message;
  }

  /** The message inflated, or undefined once its output passes `cap` (zlib stops there); throws zlib's error. */
  #inflateCapped(compressed: Uint8Array, cap: number): Buffer | undefined {
    const windowBits = this.#direction.windowBits;
    // Without a window to start from, the thread's reusable decompressor (zlib-contexts.ts).
    if (this.#window === undefined) {
      const inflated = inflateRawFlushed(compressed, windowBits, cap);
      return inflated === OUTPUT_TOO_LARGE ? undefined : inflated;
    }
    try {
      return inflateRawSync(compressed, { windowBits, dictionary: this.#window, finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: cap });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return undefined;
      throw error;
    }
  }

  /**
   * Inflates a message on the thread pool, in two passes. The first measures: it checks size
   * and UTF-8 on each inflated chunk, stops zlib at the first failure and keeps no output, so a
   * bomb costs one chunk of memory however far it would inflate. The second, once `budget` has
   * room for the measured size, inflates again into one buffer of exactly that size: no chunks
   * to concatenate (a copy of the whole message, and twice its memory, at its end), and the
   * budget bounds what all connections of the thread inflate at once. zlib's work is done twice,
   * on the thread pool; the event loop sees a few callbacks per megabyte.
   *
   * `done` is called once, never synchronously, with the budget's bytes still held: they are
   * released when it returns (the message is the application's then). Returns a function that
   * abandons the inflate (the connection closed): `done` is then never called.
   */
  inflateAsync(compressed: Uint8Array, maxBytes: number, isText: boolean, budget: InflateBudget | undefined, done: (outcome: InflateOutcome) => void): () => void {
    let reservation: InflateReservation | undefined;
    let abandoned = false;
    let stopZlib: (() => void) | undefined;
    const settle = (outcome: InflateOutcome): void => {
      if (abandoned) return;
      abandoned = true;
      stopZlib?.();
      try {
        done(outcome);
      } finally {
        reservation?.release();
      }
    };
    const abandon = (): void => {
      abandoned = true;
      stopZlib?.();
      reservation?.release();
    };
    stopZlib = this.#measure(compressed, maxBytes, isText, (measured) => {
      stopZlib = undefined;
      if (abandoned) return;
      if (measured instanceof ProtocolError) return settle(measured);
      const inflate = (): void => {
        if (abandoned) return;
        stopZlib = this.#inflateExactly(compressed, measured, settle);
      };
      if (budget === undefined) inflate();
      else reservation = budget.reserve(measured, inflate);
    });
    return abandon;
  }

  /** First pass: the inflated size, or why the message fails; nothing kept. Returns how to stop zlib. */
  #measure(compressed: Uint8Array, maxBytes: number, isText: boolean, done: (outcome: number | ProtocolError) => void): () => void {
    let length = 0;
    let utf8 = UTF8_ACCEPT;
    let settled = false;
    const settle = (outcome: number | ProtocolError): void => {
      if (settled) return;
      settled = true;
      inflater?.close();
      done(outcome);
    };
    let inflater: ReturnType<typeof createInflateRaw> | undefined;
    try {
      inflater = createInflateRaw({ ...this.#zlibOptions(), chunkSize: MEASURE_CHUNK_BYTES });
    } catch (error) {
      queueMicrotask(() => settle(corruptData(error as Error)));
      return () => { settled = true; };
    }
    inflater.on('error', (error: Error) => settle(corruptData(error)));
    inflater.on('data', (chunk: Buffer) => {
      if (settled) return;
      length += chunk.length;
      if (length > maxBytes) return settle(tooBig(maxBytes));
      if (isText) {
        utf8 = validateTextSegment(chunk, 0, chunk.length, utf8);
        if (utf8 === UTF8_REJECT) return settle(invalidUtf8());
      }
    });
    const finish = (): void => {
      if (settled) return;
      settle(isText && utf8 !== UTF8_ACCEPT ? invalidUtf8() : length);
    };
    this.#run(inflater, compressed, finish);
    return () => {
      settled = true;
      inflater?.close();
    };
  }

  /**
   * Second pass: zlib writes the message into one buffer of `length` + 1 bytes (the extra byte
   * leaves room at the end, so that zlib's stream never allocates a second buffer of that size
   * for output that does not come). Returns how to stop zlib.
   */
  #inflateExactly(compressed: Uint8Array, length: number, done: (outcome: InflateOutcome) => void): () => void {
    const parts: Buffer[] = [];
    let received = 0;
    let settled = false;
    const settle = (outcome: InflateOutcome): void => {
      if (settled) return;
      settled = true;
      inflater?.close();
      done(outcome);
    };
    let inflater: ReturnType<typeof createInflateRaw> | undefined;
    try {
      inflater = createInflateRaw({ ...this.#zlibOptions(), chunkSize: Math.max(length + 1, constants.Z_MIN_CHUNK) });
    } catch (error) {
      queueMicrotask(() => settle(corruptData(error as Error)));
      return () => { settled = true; };
    }
    inflater.on('error', (error: Error) => settle(corruptData(error)));
    inflater.on('data', (chunk: Buffer) => {
      received += chunk.length;
      parts.push(chunk);
    });
    const finish = (): void => {
      if (settled) return;
      // The same bytes and dictionary inflate the same way twice: anything else is zlib's fault.
      if (received !== length) return settle(corruptData(new Error(`inflated ${received} bytes where ${length} were measured`)));
      const message = parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
      this.#remember(message);
      settle(message);
    };
    this.#run(inflater, compressed, finish);
    return () => {
      settled = true;
      inflater?.close();
    };
  }

  /** Feeds the whole message to `inflater`; `finish` runs once all its output has been emitted. */
  #run(inflater: ReturnType<typeof createInflateRaw>, compressed: Uint8Array, finish: () => void): void {
    // A message that ends the DEFLATE stream (a final block) ends the inflater's output instead.
    inflater.on('end', finish);
    inflater.write(compressed);
    // The flush callback runs after every chunk of this input has been emitted.
    inflater.flush(constants.Z_SYNC_FLUSH, finish);
  }

  /** Bytes this inflater keeps between messages (0 without context takeover). */
  get retainedBytes(): number {
    return this.#window?.length ?? 0;
  }

  #zlibOptions(): { windowBits: number; dictionary?: Buffer } {
    const windowBits = this.#direction.windowBits;
    return this.#window === undefined ? { windowBits } : { windowBits, dictionary: this.#window };
  }

  #remember(message: Buffer): void {
    if (!this.#direction.noContextTakeover) this.#window = slideWindow(this.#window, message, 1 << this.#direction.windowBits);
  }
}

function tooBig(maxBytes: number): ProtocolError {
  return new ProtocolError(CloseCode.MESSAGE_TOO_BIG, 'WS_ERR_MESSAGE_TOO_BIG', `inflated message over the ${maxBytes}-byte limit`);
}

/** RFC 7692 §7.2.2 leaves a bad DEFLATE stream to the receiver: like ws, 1007 (bad payload data). */
function corruptData(error: Error): ProtocolError {
  return new ProtocolError(CloseCode.INVALID_PAYLOAD, 'WS_ERR_INVALID_COMPRESSED_DATA', `invalid compressed data: ${error.message}`);
}
