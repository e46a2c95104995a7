/**
 * RFC 6455 §5.2 frame scanner and header writer. scan() is the WASM twin of scanJs in
 * src/codec/js-codec.ts: one call per received chunk parses every complete header, unmasks
 * the payload bytes present in place, validates UTF-8 of text messages, and writes one
 * record per (frame, payload segment). The layout (state words, record words, flag bits)
 * is src/codec/layout.ts, the same file the TypeScript side compiles.
 */
import { mask } from './mask';
import { validateUtf8 } from './utf8';
import {
  SCAN_STATE_WORDS, S_REMAINING_LO, S_REMAINING_HI, S_MASK_KEY, S_MASK_PHASE, S_UTF8, S_FLAGS, S_CONSUMED,
  S_HEADER, SF_IN_FRAME, SF_TEXT_MESSAGE, SF_CALLER_VALIDATES_UTF8, RECORD_WORDS, RECORD_CAPACITY,
  R_FLAGS, R_LENGTH_LO, R_LENGTH_HI, R_MASK_KEY, R_SEGMENT_START, R_SEGMENT_LENGTH, R_FRAME_DONE,
  R_RESERVED, RF_OPCODE, RF_FIN, RF_MASKED, RF_UTF8_INVALID, RF_NEW_HEADER, RF_LENGTH_MSB_SET,
  UTF8_ACCEPT, UTF8_REJECT, MAX_HEADER_BYTES,
} from '../src/codec/layout';

// Fixed areas of linear memory, below __heap_base; the host reads and writes them directly.
// Word indexes from the layout become byte offsets (<< 2) at each load and store.
const STATE: usize = memory.data(<i32>(SCAN_STATE_WORDS << 2), 16);
const RECORDS: usize = memory.data(<i32>(RECORD_CAPACITY * RECORD_WORDS << 2), 16);
const HEADER: usize = memory.data(<i32>MAX_HEADER_BYTES, 16);

/** Offset of the scan state area (SCAN_STATE_WORDS u32 words). */
export function stateOffset(): usize { return STATE; }
/** Offset of the record area (RECORD_CAPACITY records of RECORD_WORDS i32 words). */
export function recordsOffset(): usize { return RECORDS; }
/** Offset of a MAX_HEADER_BYTES scratch area for writeHeader(). */
export function headerOffset(): usize { return HEADER; }
/** First byte free for the host (work buffer, scratch): everything below is the module's. */
export function heapBase(): usize { return (__heap_base + 15) & ~(<usize>15); }

/** True for a payload of text: a text frame, or a continuation of a text message. */
// @ts-ignore: decorator
@inline function isTextPayload(header: u32, flags: u32): bool {
  const opcode = header & RF_OPCODE;
  return opcode == 1 || (opcode == 0 && (flags & SF_TEXT_MESSAGE) != 0);
}

/** Scans work[start..end) (offsets relative to `work`) with the state area; writes records, updates the state, returns the record count. */
export function scan(work: usize, start: u32, end: u32): u32 {
  let pos = start;
  let count: u32 = 0;
  let remaining = (<u64>load<u32>(STATE, S_REMAINING_HI << 2) << 32) | <u64>load<u32>(STATE, S_REMAINING_LO << 2);
  let maskKey = load<u32>(STATE, S_MASK_KEY << 2);
  let phase = load<u32>(STATE, S_MASK_PHASE << 2);
  let utf8 = load<u32>(STATE, S_UTF8 << 2);
  let flags = load<u32>(STATE, S_FLAGS << 2);
  let header = load<u32>(STATE, S_HEADER << 2);

  while (count < <u32>RECORD_CAPACITY) {
    let newHeader: u32 = 0;
    let lengthLo: u32 = 0;
    let lengthHi: u32 = 0;
    if ((flags & SF_IN_FRAME) == 0) {
      if (pos + 2 > end) break;
      const b0 = <u32>load<u8>(work + pos);
      const b1 = <u32>load<u8>(work + pos, 1);
      const masked = (b1 & 0x80) != 0;
      const length7 = b1 & 0x7f;
      const size: u32 = 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + (masked ? 4 : 0);
      if (pos + size > end) break; // partial header: wait for more bytes
      let p = work + pos + 2;
      if (length7 < 126) {
        lengthLo = length7;
      } else if (length7 == 126) {
        lengthLo = <u32>bswap<u16>(load<u16>(p)); // network byte order
        p += 2;
      } else {
        lengthHi = bswap<u32>(load<u32>(p));
        lengthLo = bswap<u32>(load<u32>(p, 4));
        p += 8;
      }
      maskKey = 0;
      if (masked) {
        maskKey = load<u32>(p); // the 4 wire bytes, little-endian as in the state
        p += 4;
      }
      // Header bits FIN, RSV1-3 and the opcode sit at the same bit positions in b0 and RF_*.
      // RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0; flag it.
      header = b0 | (masked ? RF_MASKED : 0) | ((lengthHi & 0x8000_0000) != 0 ? RF_LENGTH_MSB_SET : 0);
      remaining = (<u64>lengthHi << 32) | <u64>lengthLo;
      phase = 0;
      const opcode = b0 & RF_OPCODE;
      if (opcode == 1) {
        flags |= SF_TEXT_MESSAGE;
        utf8 = UTF8_ACCEPT;
      } else if (opcode == 2) {
        flags &= ~SF_TEXT_MESSAGE;
      }
      flags |= SF_IN_FRAME;
      newHeader = RF_NEW_HEADER;
      pos = <u32>(p - work);
    } else if (pos == end) {
      break; // nothing of the current frame's payload in this chunk
    }

    const available = end - pos;
    const segment: u32 = remaining < <u64>available ? <u32>remaining : available;
    if (segment > 0 && (header & RF_MASKED) != 0) phase = mask(work + pos, segment, maskKey, phase);
    remaining -= segment;
    const frameDone = remaining == 0;
    let recordFlags = header | newHeader;
    if ((flags & SF_CALLER_VALIDATES_UTF8) == 0 && isTextPayload(header, flags)) {
      if (segment > 0) utf8 = validateUtf8(work + pos, segment, utf8);
      // Fail fast on a bad byte; a message may only end on a character boundary.
      if (utf8 == UTF8_REJECT || (frameDone && (header & RF_FIN) != 0 && utf8 != UTF8_ACCEPT)) {
        recordFlags |= RF_UTF8_INVALID;
      }
    }
    if (frameDone) {
      flags &= ~SF_IN_FRAME;
      // A data frame with FIN ends the message; control frames (opcode ≥ 8) may interleave.
      if ((header & RF_OPCODE) < 8 && (header & RF_FIN) != 0) flags &= ~SF_TEXT_MESSAGE;
    }

    const r = RECORDS + (<usize>(count * RECORD_WORDS) << 2);
    store<u32>(r, recordFlags, R_FLAGS << 2);
    store<u32>(r, lengthLo, R_LENGTH_LO << 2);
    store<u32>(r, lengthHi, R_LENGTH_HI << 2);
    store<u32>(r, maskKey, R_MASK_KEY << 2);
    store<u32>(r, pos, R_SEGMENT_START << 2);
    store<u32>(r, segment, R_SEGMENT_LENGTH << 2);
    store<u32>(r, frameDone ? 1 : 0, R_FRAME_DONE << 2);
    store<u32>(r, 0, R_RESERVED << 2);
    count++;
    pos += segment;
    if (!frameDone) break; // the chunk ended inside this frame's payload
  }

  store<u32>(STATE, <u32>remaining, S_REMAINING_LO << 2);
  store<u32>(STATE, <u32>(remaining >> 32), S_REMAINING_HI << 2);
  store<u32>(STATE, maskKey, S_MASK_KEY << 2);
  store<u32>(STATE, phase, S_MASK_PHASE << 2);
  store<u32>(STATE, utf8, S_UTF8 << 2);
  store<u32>(STATE, flags, S_FLAGS << 2);
  store<u32>(STATE, pos, S_CONSUMED << 2);
  store<u32>(STATE, header, S_HEADER << 2);
  return count;
}

/** Writes a frame header (MASK set and key appended when masked != 0) at target; returns its byte length (≤ 14). */
export function writeHeader(target: usize, opcode: u32, fin: u32, lengthLo: u32, lengthHi: u32, maskKey: u32, masked: u32): u32 {
  let p = target;
  store<u8>(p++, (fin != 0 ? 0x80 : 0) | (opcode & 0x0f));
  const maskBit: u32 = masked != 0 ? 0x80 : 0;
  // RFC 6455 §5.2: 7-bit length, or 126 + 16-bit, or 127 + 64-bit, in network byte order.
  if (lengthHi == 0 && lengthLo < 126) {
    store<u8>(p++, maskBit | lengthLo);
  } else if (lengthHi == 0 && lengthLo < 65536) {
    store<u8>(p++, maskBit | 126);
    store<u16>(p, bswap<u16>(<u16>lengthLo));
    p += 2;
  } else {
    store<u8>(p++, maskBit | 127);
    store<u32>(p, bswap<u32>(lengthHi));
    store<u32>(p, bswap<u32>(lengthLo), 4);
    p += 8;
  }
  if (masked != 0) {
    store<u32>(p, maskKey);
    p += 4;
  }
  return <u32>(p - target);
}
