/**
 * JsCodec: the plain TypeScript twin of the WASM codec and the reference the WASM one is
 * tested against. Every step mirrors assembly/frame.ts, assembly/mask.ts and assembly/utf8.ts.
 */
import type { FrameCodec } from './codec.js';
import {
  RECORD_CAPACITY, RECORD_WORDS, SCAN_STATE_WORDS,
  S_REMAINING_LO, S_REMAINING_HI, S_MASK_KEY, S_MASK_PHASE, S_UTF8, S_FLAGS, S_CONSUMED, S_HEADER,
  SF_IN_FRAME, SF_TEXT_MESSAGE, SF_CALLER_VALIDATES_UTF8, RF_OPCODE, RF_FIN, RF_MASKED, RF_UTF8_INVALID,
  RF_NEW_HEADER, RF_LENGTH_MSB_SET, UTF8_ACCEPT, UTF8_REJECT,
} from './layout.js';
import { writeRecord } from './record.js';
import { validateUtf8Js } from './utf8-stream.js';
import { writeHeaderJs } from './frame-header.js';

const TWO_POW_32 = 0x1_0000_0000;

export function maskJs(data: Uint8Array, offset: number, length: number, maskKey: number, phase: number): number {
  const key0 = maskKey & 0xff, key1 = (maskKey >>> 8) & 0xff, key2 = (maskKey >>> 16) & 0xff, key3 = maskKey >>> 24;
  const end = offset + length;
  let i = offset;
  phase &= 3;
  // Bring the phase to 0 so the main loop can use the key bytes in order.
  while (i < end && phase !== 0) {
    data[i++] ^= (maskKey >>> (phase * 8)) & 0xff;
    phase = (phase + 1) & 3;
  }
  for (; i + 4 <= end; i += 4) {
    data[i] ^= key0;
    data[i + 1] ^= key1;
    data[i + 2] ^= key2;
    data[i + 3] ^= key3;
  }
  while (i < end) {
    data[i++] ^= (maskKey >>> (phase * 8)) & 0xff;
    phase = (phase + 1) & 3;
  }
  return phase;
}

/** True for opcodes whose payload is text: a text frame, or a continuation of a text message. */
function isTextPayload(header: number, flags: number): boolean {
  const opcode = header & RF_OPCODE;
  return opcode === 1 || (opcode === 0 && (flags & SF_TEXT_MESSAGE) !== 0);
}

export function scanJs(state: Uint32Array, work: Uint8Array, start: number, records: Int32Array): number {
  const end = work.length;
  let pos = start;
  let count = 0;
  // Two u32 words, as the WASM twin keeps them: a double would round lengths above 2^53.
  let remainingHi = state[S_REMAINING_HI];
  let remainingLo = state[S_REMAINING_LO];
  let maskKey = state[S_MASK_KEY];
  let phase = state[S_MASK_PHASE];
  let utf8 = state[S_UTF8];
  let flags = state[S_FLAGS];
  let header = state[S_HEADER];

  while (count < RECORD_CAPACITY) {
    let newHeader = 0;
    let lengthLo = 0, lengthHi = 0;
    if ((flags & SF_IN_FRAME) === 0) {
      if (end - pos < 2) break;
      const b0 = work[pos], b1 = work[pos + 1];
      const masked = (b1 & 0x80) !== 0;
      const length7 = b1 & 0x7f;
      const size = 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + (masked ? 4 : 0);
      if (end - pos < size) break; // partial header: wait for more bytes
      let p = pos + 2;
      if (length7 < 126) {
        lengthLo = length7;
      } else if (length7 === 126) {
        lengthLo = (work[p] << 8) | work[p + 1];
        p += 2;
      } else {
        lengthHi = ((work[p] << 24) | (work[p + 1] << 16) | (work[p + 2] << 8) | work[p + 3]) >>> 0;
        lengthLo = ((work[p + 4] << 24) | (work[p + 5] << 16) | (work[p + 6] << 8) | work[p + 7]) >>> 0;
        p += 8;
      }
      maskKey = 0;
      if (masked) {
        maskKey = (work[p] | (work[p + 1] << 8) | (work[p + 2] << 16) | (work[p + 3] << 24)) >>> 0;
        p += 4;
      }
      // Header bits FIN, RSV1-3 and the opcode sit at the same bit positions in b0 and RF_*.
      header = b0 | (masked ? RF_MASKED : 0) | ((lengthHi & 0x8000_0000) !== 0 ? RF_LENGTH_MSB_SET : 0);
      remainingHi = lengthHi;
      remainingLo = lengthLo;
      phase = 0;
      const opcode = b0 & RF_OPCODE;
      if (opcode === 1) {
        flags |= SF_TEXT_MESSAGE;
        utf8 = UTF8_ACCEPT;
      } else if (opcode === 2) {
        flags &= ~SF_TEXT_MESSAGE;
      }
      flags |= SF_IN_FRAME;
      newHeader = RF_NEW_HEADER;
      pos = p;
    } else if (pos === end) {
      break; // nothing of the current frame's payload in this chunk
    }

    const available = end - pos;
    const segment = remainingHi === 0 && remainingLo < available ? remainingLo : available;
    if (segment > 0 && (header & RF_MASKED) !== 0) phase = maskJs(work, pos, segment, maskKey, phase);
    if (segment > remainingLo) {
      remainingHi -= 1; // borrow: segment < 2^32, so one borrow is enough
      remainingLo = remainingLo + TWO_POW_32 - segment;
    } else {
      remainingLo -= segment;
    }
    const frameDone = remainingHi === 0 && remainingLo === 0;
    let recordFlags = header | newHeader;
    if ((flags & SF_CALLER_VALIDATES_UTF8) === 0 && isTextPayload(header, flags)) {
      if (segment > 0) utf8 = validateUtf8Js(work, pos, segment, utf8);
      // Fail fast on a bad byte; a message may only end on a character boundary.
      if (utf8 === UTF8_REJECT || (frameDone && (header & RF_FIN) !== 0 && utf8 !== UTF8_ACCEPT)) {
        recordFlags |= RF_UTF8_INVALID;
      }
    }
    if (frameDone) {
      flags &= ~SF_IN_FRAME;
      if ((header & RF_OPCODE) < 8 && (header & RF_FIN) !== 0) flags &= ~SF_TEXT_MESSAGE;
    }

    writeRecord(records, count, recordFlags, lengthLo, lengthHi, maskKey, pos, segment, frameDone);
    count++;
    pos += segment;
    if (!frameDone) break; // the chunk ended inside this frame's payload
  }

  state[S_REMAINING_LO] = remainingLo;
  state[S_REMAINING_HI] = remainingHi;
  state[S_MASK_KEY] = maskKey;
  state[S_MASK_PHASE] = phase;
  state[S_UTF8] = utf8;
  state[S_FLAGS] = flags;
  state[S_CONSUMED] = pos;
  state[S_HEADER] = header;
  return count;
}

function concat(pending: Uint8Array | null, chunk: Uint8Array): Uint8Array {
  if (pending === null || pending.length === 0) return chunk;
  const work = new Uint8Array(pending.length + chunk.length);
  work.set(pending, 0);
  work.set(chunk, pending.length);
  return work;
}

export class JsCodec implements FrameCodec {
  readonly kind = 'js' as const;
  /** Payload views point into the chunk itself, which the codec never reuses. */
  readonly payloadIsBorrowed = false;
  readonly records = new Int32Array(RECORD_CAPACITY * RECORD_WORDS);
  readonly maxChunkBytes = Number.POSITIVE_INFINITY;

  /** Chunks are scanned wherever they are: there is no memory of the codec's own to read into. */
  readArea(): undefined {
    return undefined;
  }

  createState(): Uint32Array {
    return new Uint32Array(SCAN_STATE_WORDS);
  }

  load(pending: Uint8Array | null, chunk: Uint8Array): Uint8Array {
    return concat(pending, chunk);
  }

  scan(state: Uint32Array, work: Uint8Array, start: number): number {
    return scanJs(state, work, start, this.records);
  }

  mask(data: Uint8Array, offset: number, length: number, maskKey: number, phase: number): number {
    return maskJs(data, offset, length, maskKey, phase);
  }

  validateUtf8(data: Uint8Array, offset: number, length: number, state: number): number {
    return validateUtf8Js(data, offset, length, state);
  }

  writeHeader(target: Uint8Array, offset: number, opcode: number, fin: boolean, length: number, maskKey?: number): number {
    return writeHeaderJs(target, offset, opcode, fin, length, maskKey);
  }
}
