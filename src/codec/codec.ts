/**
 * The FrameCodec contract: the byte work of RFC 6455 framing, implemented twice
 * (WasmCodec in assembly/, JsCodec in plain TypeScript) so the two can be compared
 * and tested against each other byte for byte.
 *
 * The codec is a *scanner*: one call per received chunk parses every complete frame
 * header, unmasks every payload byte present in place, and validates UTF-8 of text
 * messages as the bytes arrive. It writes one record per (frame, segment of payload
 * in this chunk) and leaves protocol decisions (close codes, limits) to the caller.
 */

/** Number of 32-bit words in a connection's scan state. */
export const SCAN_STATE_WORDS = 8;
/** Scan state words (the state survives chunk and frame boundaries). */
export const S_REMAINING_LO = 0; // payload bytes of the current frame not yet seen (low 32 bits)
export const S_REMAINING_HI = 1; // (high 32 bits)
export const S_MASK_KEY = 2; // mask key of the current frame, the 4 wire bytes read little-endian
export const S_MASK_PHASE = 3; // index into the mask key of the next payload byte (0..3)
export const S_UTF8 = 4; // streaming UTF-8 validator state (see UTF8_* below)
export const S_FLAGS = 5; // SF_* bits
export const S_CONSUMED = 6; // output of scan(): offset of the first byte not consumed
export const S_HEADER = 7; // record flags (R_*) of the current frame's header

/** S_FLAGS bits. */
export const SF_IN_FRAME = 1; // a header was parsed and its payload is not complete yet
export const SF_TEXT_MESSAGE = 2; // the current data message is text: continuations are validated
/**
 * Set by the caller: scan() leaves UTF-8 to the caller (no validation, no RF_UTF8_INVALID), which
 * then picks the fastest validator per segment (src/protocol/utf8-validator.ts).
 */
export const SF_CALLER_VALIDATES_UTF8 = 4;

/** Number of 32-bit words per record. */
export const RECORD_WORDS = 8;
/** Record words. */
export const R_FLAGS = 0;
export const R_LENGTH_LO = 1; // the frame's payload length (whole frame); set on RF_NEW_HEADER records only, else 0
export const R_LENGTH_HI = 2;
export const R_MASK_KEY = 3;
export const R_SEGMENT_START = 4; // offset in the work buffer of this segment's (unmasked) payload
export const R_SEGMENT_LENGTH = 5;
export const R_FRAME_DONE = 6; // 1 when this segment ends the frame's payload

/** Record flag bits (R_FLAGS). Opcode in bits 0-3, then the header bits, then scanner findings. */
export const RF_OPCODE = 0x0f;
export const RF_RSV3 = 1 << 4;
export const RF_RSV2 = 1 << 5;
export const RF_RSV1 = 1 << 6;
export const RF_FIN = 1 << 7;
export const RF_MASKED = 1 << 8;
/** The text message is not valid UTF-8 up to the end of this segment (fail-fast). */
export const RF_UTF8_INVALID = 1 << 9;
/** This record starts a new frame (its header was parsed in this chunk). */
export const RF_NEW_HEADER = 1 << 10;
/** RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0. */
export const RF_LENGTH_MSB_SET = 1 << 11;

/** UTF-8 validator states; any other value means "inside a multi-byte sequence". */
export const UTF8_ACCEPT = 0;
export const UTF8_REJECT = 8;

/** Records one scan() call can write before it returns to let the caller catch up. */
export const RECORD_CAPACITY = 256;

/** Largest header a frame can have: 2 + 8 (64-bit length) + 4 (mask key). */
export const MAX_HEADER_BYTES = 14;

export type CodecKind = 'wasm' | 'js';

export interface FrameCodec {
  readonly kind: CodecKind;
  /**
   * True when payload views handed out by scan() alias memory the codec reuses
   * (WASM linear memory): the caller must copy a payload before the next load().
   */
  readonly payloadIsBorrowed: boolean;
  /** Records written by the last scan(), RECORD_WORDS words each. */
  readonly records: Int32Array;
  /** The largest chunk load() takes; the protocol feeds longer ones in pieces of this size. */
  readonly maxChunkBytes: number;
  /**
   * Memory the transport may read socket bytes straight into (WASM linear memory), or undefined.
   * A chunk that starts there is scanned where it lies: load() copies only the pending bytes in
   * front of it. All of a thread's connections share it: each read must be handed to receive()
   * before the next one lands. After the first call the codec's memory never grows again, so
   * the view (and a raw pointer to it held by the socket) stays valid.
   */
  readArea(): Uint8Array | undefined;
  /** A new, zeroed scan state for one connection. */
  createState(): Uint32Array;
  /**
   * Returns a work buffer holding `pending` (unconsumed bytes of the previous chunk,
   * at most a partial header) followed by `chunk`, where scan() may unmask in place.
   */
  load(pending: Uint8Array | null, chunk: Uint8Array): Uint8Array;
  /**
   * Scans work[start..]: writes records, updates state, sets state[S_CONSUMED].
   * Returns the record count. It stops early at a partial header (the rest is left
   * unconsumed) or when RECORD_CAPACITY records are written (call again from S_CONSUMED).
   */
  scan(state: Uint32Array, work: Uint8Array, start: number): number;
  /** XORs data[offset..offset+length) with maskKey starting at key byte `phase`; returns the next phase. */
  mask(data: Uint8Array, offset: number, length: number, maskKey: number, phase: number): number;
  /** Streams bytes through the UTF-8 validator from `state`; returns the new state. */
  validateUtf8(data: Uint8Array, offset: number, length: number, state: number): number;
  /**
   * Writes a frame header for a payload of `length` bytes into target at offset; `maskKey`
   * is written (and MASK set) unless it is undefined. Returns the header's byte length.
   */
  writeHeader(target: Uint8Array, offset: number, opcode: number, fin: boolean, length: number, maskKey?: number): number;
}

/** The byte length of a frame header for a payload length, with or without mask key. */
export function headerLength(payloadLength: number, masked: boolean): number {
  const base = payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10;
  return masked ? base + 4 : base;
}
