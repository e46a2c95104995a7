/**
 * permessage-deflate (RFC 7692) as the protocol sees it once the handshake has agreed on it:
 * what was negotiated for each direction, this endpoint's own compressor settings, and what the
 * inflater and the deflater share.
 *
 * No zlib context belongs to a connection. A message without a preset dictionary goes through
 * its thread's reusable context (zlib-contexts.ts), reset after it; one with a dictionary gets a
 * fresh zlib context, freed when the call returns. Context takeover (the LZ77 window carried from one message to the next, §7.1.1) is
 * kept as a copy of the last 2^windowBits bytes of the uncompressed messages, given to the next
 * call as its preset dictionary — the same window the peer keeps. So a connection between
 * messages holds no zlib context at all, and without context takeover holds nothing.
 */

/** One direction of a negotiated permessage-deflate (RFC 7692 §7.1), as this endpoint uses it. */
export interface DeflateDirection {
  /** The LZ77 sliding window is 2^windowBits bytes, 8 to 15 (§7.1.2). */
  windowBits: number;
  /** §7.1.1: the window is reset after every message, so nothing is kept between messages. */
  noContextTakeover: boolean;
}

/** What the opening handshake agreed, from this endpoint's side (plain data). */
export interface NegotiatedDeflate {
  /** This endpoint's compressor (a server's: the server_* parameters). */
  send: DeflateDirection;
  /** The peer's compressor, which this endpoint's decompressor follows (a server's: client_*). */
  receive: DeflateDirection;
}

/** This endpoint's compressor settings: its own choice, not negotiated. */
export interface CompressorSettings {
  /** Messages smaller than this are sent uncompressed. */
  threshold: number;
  /** Messages larger than this are sent uncompressed, so that one deflate call stays short. */
  maxCompressBytes: number;
  /** zlib compression level, 0-9. */
  level: number;
  /** zlib memLevel, 1-9: the compressor's hash table is 2^(memLevel + 9) bytes. */
  memLevel: number;
}

/** What a protocol endpoint needs to speak permessage-deflate. */
export interface PerMessageDeflateConfig {
  negotiated: NegotiatedDeflate;
  compressor: CompressorSettings;
}

/** RFC 7692 §6: RSV1 is the "Per-Message Compressed" bit, in a frame's first header byte. */
export const RSV1_BIT = 0x40;

/**
 * RFC 7692 §7.2.1: a message compressed with a sync flush ends with an empty stored block,
 * these four bytes, which the sender removes; §7.2.2: the receiver appends them again.
 */
export const SYNC_FLUSH_TAIL: Readonly<Buffer> = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** True when a message of `length` bytes is sent compressed under `settings`. */
export function compresses(settings: CompressorSettings, length: number): boolean {
  return length >= settings.threshold && length <= settings.maxCompressBytes;
}

/**
 * The window after a message: the last `size` bytes of `window` followed by `message`, in a
 * buffer of its own (never a view of the caller's bytes, never a slice of Node's shared pool).
 */
export function slideWindow(window: Buffer | undefined, message: Uint8Array, size: number): Buffer {
  const fromMessage = Math.min(message.length, size);
  const fromWindow = Math.min(size - fromMessage, window?.length ?? 0);
  const next = Buffer.allocUnsafeSlow(fromWindow + fromMessage);
  if (window !== undefined && fromWindow > 0) window.copy(next, 0, window.length - fromWindow);
  next.set(message.subarray(message.length - fromMessage), fromWindow);
  return next;
}
