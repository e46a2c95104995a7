/**
 * Outgoing permessage-deflate (RFC 7692 §7.2.1): one whole message in, its compressed payload
 * out, synchronously.
 *
 * Why synchronous (test/measure/zlib-costs.ts, this 2-core machine, Node 26, zlib 1.3): a
 * 1 KiB message costs 13-17 µs of event-loop time with deflateRawSync and 80-100 µs with the
 * async deflateRaw (thread-pool dispatch and callback), so sync is the cheaper call for the
 * messages most servers send. Its cost grows with the message (about 1 ms at 128 KiB, level 6,
 * where async costs the loop 0.1-0.2 ms), so it is bounded: messages over `maxCompressBytes`
 * (128 KiB by default) go out uncompressed, which §6 allows for any message, and no deflate
 * call holds the worker's other connections up for much more than a millisecond.
 */
import { constants, deflateRawSync } from 'node:zlib';
import { deflateRawFlushed } from './zlib-contexts.js';
import { compresses, slideWindow, SYNC_FLUSH_TAIL, type CompressorSettings, type DeflateDirection } from './compression.js';

/**
 * Compresses one message with a fresh zlib context and an optional preset dictionary (the
 * window context takeover carries over). Returns the payload of the compressed message.
 */
export function deflateMessage(payload: Uint8Array, windowBits: number, settings: CompressorSettings, dictionary?: Buffer): Buffer {
  // Node turns windowBits 8 into 9 for raw deflate, whose matches still reach back at most
  // 2^9 - 262 = 250 bytes: within the 256-byte window the peer agreed to (§7.1.2.1).
  // Without a window to start from, the thread's reusable compressor (zlib-contexts.ts).
  const compressed = dictionary === undefined
    ? deflateRawFlushed(payload, windowBits, settings.level, settings.memLevel)
    : deflateRawSync(payload, { level: settings.level, memLevel: settings.memLevel, windowBits, finishFlush: constants.Z_SYNC_FLUSH, dictionary });
  // §7.2.1: the data ends with an empty stored block (the sync flush): remove its 4 bytes.
  const end = compressed.length - SYNC_FLUSH_TAIL.length;
  return end >= 0 && SYNC_FLUSH_TAIL.equals(compressed.subarray(end)) ? compressed.subarray(0, end) : compressed;
}

/** One connection's compressor: the threshold, the size bound and, with context takeover, the window. */
export class MessageDeflater {
  readonly #direction: DeflateDirection;
  readonly #settings: CompressorSettings;
  /**
   * With context takeover: the last 2^windowBits bytes of the messages this endpoint sent
   * compressed, which the peer's decompressor still holds. Uncompressed messages are not in it.
   */
  #window: Buffer | undefined;

  constructor(direction: DeflateDirection, settings: CompressorSettings) {
    this.#direction = direction;
    this.#settings = settings;
  }

  /** True when a message of `length` bytes goes out compressed. */
  compresses(length: number): boolean {
    return compresses(this.#settings, length);
  }

  /** The compressed payload of `payload` (a whole message); frame it with RSV1 set (§6). */
  compress(payload: Uint8Array): Buffer {
    const { windowBits, noContextTakeover } = this.#direction;
    const compressed = deflateMessage(payload, windowBits, this.#settings, this.#window);
    if (!noContextTakeover) this.#window = slideWindow(this.#window, payload, 1 << windowBits);
    return compressed;
  }

  /** Bytes this compressor keeps between messages (0 without context takeover). */
  get retainedBytes(): number {
    return this.#window?.length ?? 0;
  }
}
