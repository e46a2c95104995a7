/**
 * Reading and writing the records scan() leaves, one per (frame, payload segment in a chunk):
 * the only code outside assembly/ that knows which word holds what (src/codec/layout.ts).
 * A record is named by its index in the array; the accessors are small enough for V8 to inline
 * on the receive path, so they cost what the raw word reads cost.
 */
import {
  RECORD_WORDS, R_FLAGS, R_LENGTH_LO, R_LENGTH_HI, R_MASK_KEY, R_SEGMENT_START, R_SEGMENT_LENGTH,
  R_FRAME_DONE, R_RESERVED, RF_OPCODE, RF_FIN, RF_MASKED, RF_RSV1, RF_RSV2, RF_RSV3, RF_UTF8_INVALID,
  RF_NEW_HEADER, RF_LENGTH_MSB_SET,
} from './layout.js';

const TWO_POW_32 = 0x1_0000_0000;
/** The RSV1-3 bits of a record's flags, in the positions of RF_RSV1..RF_RSV3. */
export const RSV_BITS = RF_RSV1 | RF_RSV2 | RF_RSV3;

/** The number of records an array of them holds. */
export function recordCount(records: Int32Array): number {
  return records.length / RECORD_WORDS;
}

/** Records [from, to) as an array of their own (the codec's record area is reused by the next scan). */
export function copyRecords(records: Int32Array, from: number, to: number): Int32Array {
  return records.slice(from * RECORD_WORDS, to * RECORD_WORDS);
}

/** The record's RF_* bits: the frame's header bits and what the scanner found. */
export function recordFlags(records: Int32Array, i: number): number {
  return records[i * RECORD_WORDS + R_FLAGS];
}

/** The frame's opcode (RFC 6455 §5.2). */
export function opcode(records: Int32Array, i: number): number {
  return records[i * RECORD_WORDS + R_FLAGS] & RF_OPCODE;
}

/** The frame's FIN bit: this frame ends its message. */
export function fin(records: Int32Array, i: number): boolean {
  return (records[i * RECORD_WORDS + R_FLAGS] & RF_FIN) !== 0;
}

/** The frame's RSV1-3 bits (RF_RSV1 | RF_RSV2 | RF_RSV3 positions); 0 when none is set. */
export function rsv(records: Int32Array, i: number): number {
  return records[i * RECORD_WORDS + R_FLAGS] & RSV_BITS;
}

/** The frame's MASK bit. */
export function masked(records: Int32Array, i: number): boolean {
  return (records[i * RECORD_WORDS + R_FLAGS] & RF_MASKED) !== 0;
}

/** This record starts a frame: its header was parsed in this chunk and frameLength() is set. */
export function startsFrame(records: Int32Array, i: number): boolean {
  return (records[i * RECORD_WORDS + R_FLAGS] & RF_NEW_HEADER) !== 0;
}

/** RFC 6455 §5.2: a 64-bit length with its most significant bit set (a protocol error). */
export function lengthMsbSet(records: Int32Array, i: number): boolean {
  return (records[i * RECORD_WORDS + R_FLAGS] & RF_LENGTH_MSB_SET) !== 0;
}

/** The scanner's UTF-8 check failed on this text segment (only when the codec validates). */
export function utf8Invalid(records: Int32Array, i: number): boolean {
  return (records[i * RECORD_WORDS + R_FLAGS] & RF_UTF8_INVALID) !== 0;
}

/** The whole frame's payload length, on a record that startsFrame(); exact below 2^53. */
export function frameLength(records: Int32Array, i: number): number {
  const r = i * RECORD_WORDS;
  return (records[r + R_LENGTH_HI] >>> 0) * TWO_POW_32 + (records[r + R_LENGTH_LO] >>> 0);
}

/** The frame's mask key, its 4 wire bytes read little-endian (0 when unmasked). */
export function maskKey(records: Int32Array, i: number): number {
  return records[i * RECORD_WORDS + R_MASK_KEY] >>> 0;
}

/** Where this segment's payload (unmasked in place) starts in the work buffer. */
export function segmentStart(records: Int32Array, i: number): number {
  return records[i * RECORD_WORDS + R_SEGMENT_START];
}

/** The byte length of this segment's payload (0 for an empty frame). */
export function segmentLength(records: Int32Array, i: number): number {
  return records[i * RECORD_WORDS + R_SEGMENT_LENGTH];
}

/** This segment ends the frame's payload. */
export function endsFrame(records: Int32Array, i: number): boolean {
  return records[i * RECORD_WORDS + R_FRAME_DONE] !== 0;
}

/**
 * Writes record i, as assembly/frame.ts does: `flags` are the RF_* bits, the length words are
 * the frame's whole payload length (0 unless the record starts the frame).
 */
export function writeRecord(
  records: Int32Array, i: number, flags: number, lengthLo: number, lengthHi: number,
  key: number, start: number, length: number, frameDone: boolean,
): void {
  const r = i * RECORD_WORDS;
  records[r + R_FLAGS] = flags;
  records[r + R_LENGTH_LO] = lengthLo;
  records[r + R_LENGTH_HI] = lengthHi;
  records[r + R_MASK_KEY] = key;
  records[r + R_SEGMENT_START] = start;
  records[r + R_SEGMENT_LENGTH] = length;
  records[r + R_FRAME_DONE] = frameDone ? 1 : 0;
  records[r + R_RESERVED] = 0;
}
