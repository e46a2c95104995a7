/**
 * The codec's memory layout: the scan state a connection keeps, the record scan() writes per
 * (frame, payload segment), and the values in them. This one file is read by both compilers:
 * tsc builds it for JsCodec and the protocol, asc builds it into assembly/ (frame.ts and
 * utf8.ts import it), so the two codecs cannot disagree on a word. The WASM module exports
 * every constant here and WasmCodec compares them at load, so a stale build/wasmsocket.wasm
 * is an error, not corrupt records. Keep it to plain number constants (both languages).
 * Words are 32-bit; indexes below are word indexes (assembly/ shifts them to byte offsets).
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
export const S_HEADER = 7; // record flags (RF_*) of the current frame's header

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
export const R_FLAGS = 0; // RF_* bits
export const R_LENGTH_LO = 1; // the frame's payload length (whole frame); set on RF_NEW_HEADER records only, else 0
export const R_LENGTH_HI = 2;
export const R_MASK_KEY = 3;
export const R_SEGMENT_START = 4; // offset in the work buffer of this segment's (unmasked) payload
export const R_SEGMENT_LENGTH = 5;
export const R_FRAME_DONE = 6; // 1 when this segment ends the frame's payload
export const R_RESERVED = 7; // always 0: pads a record to 32 bytes

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

/** UTF-8 validator states; 1..7 mean "inside a multi-byte sequence". */
export const UTF8_ACCEPT = 0;
export const UTF8_REJECT = 8;

/** Records one scan() call can write before it returns to let the caller catch up. */
export const RECORD_CAPACITY = 256;

/** Largest header a frame can have: 2 + 8 (64-bit length) + 4 (mask key). */
export const MAX_HEADER_BYTES = 14;
