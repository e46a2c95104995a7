/**
 * Test support for the codec differential tests: a seeded PRNG, a generator of client frame
 * streams (encoded here, independently of both codecs), a driver that feeds a stream to a
 * codec chunk by chunk exactly like the protocol does, and comparisons of what came out.
 */
import { isUtf8 } from 'node:buffer';
import { FrameCodec, RECORD_CAPACITY, RECORD_WORDS, S_CONSUMED, S_FLAGS } from '../../src/codec/codec.js';
import {
  copyRecords, endsFrame, fin, frameLength, maskKey, masked, opcode, recordCount, rsv, segmentLength as segmentLengthOf,
  segmentStart as segmentStartOf, startsFrame, utf8Invalid,
} from '../../src/codec/record.js';

const TWO_POW_32 = 0x1_0000_0000;

/** mulberry32: small, fast, deterministic for a seed. */
export class Prng {
  #s: number;
  constructor(seed: number) { this.#s = seed >>> 0; }
  /** A uniform 32-bit unsigned integer. */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** An integer in [0, n). */
  int(n: number): number { return Math.floor((this.next() / TWO_POW_32) * n); }
  chance(p: number): boolean { return this.next() / TWO_POW_32 < p; }
  pick<T>(items: readonly T[]): T { return items[this.int(items.length)]; }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

export interface FrameSpec {
  opcode: number;
  fin: boolean;
  /** RSV1..3 as the 3 bits above the opcode (0..7). */
  rsv: number;
  maskKey: number | null;
  /** The unmasked payload (for a truncated frame: the bytes present). */
  payload: Uint8Array;
  /** The length in the header when it is not payload.length (a truncated or huge frame). */
  declaredLength?: number;
}

export interface FrameStream {
  bytes: Uint8Array;
  frames: FrameSpec[];
  /** The stream ends inside a frame: no whole-frame oracle applies. */
  truncated: boolean;
}

/** RFC 6455 §5.2 encoding, written independently of writeHeaderJs and the WASM writer. */
export function encodeFrame(frame: FrameSpec): Uint8Array {
  const length = frame.declaredLength ?? frame.payload.length;
  const header: number[] = [(frame.fin ? 0x80 : 0) | (frame.rsv << 4) | frame.opcode];
  const maskBit = frame.maskKey === null ? 0 : 0x80;
  if (length < 126) {
    header.push(maskBit | length);
  } else if (length < 65536) {
    header.push(maskBit | 126, length >> 8, length & 0xff);
  } else {
    header.push(maskBit | 127);
    const hi = Math.floor(length / TWO_POW_32), lo = length % TWO_POW_32;
    for (let shift = 24; shift >= 0; shift -= 8) header.push(Math.floor(hi / 2 ** shift) & 0xff);
    for (let shift = 24; shift >= 0; shift -= 8) header.push(Math.floor(lo / 2 ** shift) & 0xff);
  }
  const key = frame.maskKey === null ? null : [0, 8, 16, 24].map((s) => (frame.maskKey! >>> s) & 0xff);
  if (key !== null) header.push(...key);
  const out = new Uint8Array(header.length + frame.payload.length);
  out.set(header, 0);
  for (let i = 0; i < frame.payload.length; i++) {
    out[header.length + i] = key === null ? frame.payload[i] : frame.payload[i] ^ key[i & 3];
  }
  return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
}

/** Code points at the UTF-8 length boundaries and around the surrogates, plus common text. */
const CODE_POINTS = [
  0x00, 0x41, 0x7f, 0x80, 0xe9, 0x7ff, 0x800, 0x20ac, 0x2713, 0xd7ff, 0xe000, 0xfffd, 0xffff,
  0x10000, 0x1f600, 0x10fffe, 0x10ffff,
];
/** Byte sequences RFC 3629 forbids: stray continuation, overlongs, surrogates, > U+10FFFF, bad leads. */
export const INVALID_SEQUENCES: readonly number[][] = [
  [0x80], [0xbf], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xe0, 0x9f, 0xbf],
  [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf0, 0x80, 0x80, 0x80], [0xf0, 0x8f, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xf8], [0xfe], [0xff],
  [0xc3, 0x41], [0xe2, 0x82, 0x41], [0xf0, 0x9f, 0x98, 0x41],
];
/** Valid prefixes that make a message invalid only because it ends there. */
const TRUNCATED_SEQUENCES: readonly number[][] = [[0xc3], [0xe2, 0x82], [0xf0, 0x9f], [0xf0, 0x9f, 0x98], [0xed]];

/** About `length` bytes of valid UTF-8 mixing ASCII with 2-, 3- and 4-byte characters. */
export function randomText(rng: Prng, length: number): Uint8Array {
  let text = '';
  let bytes = 0;
  while (bytes < length) {
    const cp = rng.chance(0.6) ? 0x20 + rng.int(0x5f) : rng.chance(0.5) ? rng.pick(CODE_POINTS) : rng.int(0x110000);
    if (cp >= 0xd800 && cp <= 0xdfff) continue; // surrogates are not characters
    text += String.fromCodePoint(cp);
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return Buffer.from(text, 'utf8');
}

/** Text that is valid UTF-8 or (with probability pInvalid) broken somewhere. */
export function randomMaybeInvalidText(rng: Prng, length: number, pInvalid: number): Uint8Array {
  const text = randomText(rng, length);
  if (!rng.chance(pInvalid)) return text;
  const at = rng.int(text.length + 1);
  const bad = rng.chance(0.8) ? rng.pick(INVALID_SEQUENCES) : rng.pick(TRUNCATED_SEQUENCES);
  if (bad.length === 1 || rng.chance(0.5)) return concatBytes([text.subarray(0, at), Uint8Array.from(bad), text.subarray(at)]);
  return concatBytes([text, Uint8Array.from(bad)]); // ends inside a character
}

/** Payload lengths that hit the 7/16/64-bit length encodings and their boundaries. */
export function randomLength(rng: Prng, allowLarge: boolean): number {
  const r = rng.int(100);
  if (r < 35) return rng.int(11);
  if (r < 55) return rng.pick([124, 125, 126, 127, 128]);
  if (r < 80) return rng.int(400);
  if (allowLarge && r < 90) return rng.pick([65534, 65535, 65536, 65537]);
  return rng.int(1500);
}

function maskKeyOrNull(rng: Prng): number | null {
  if (!rng.chance(0.8)) return null;
  return rng.chance(0.1) ? rng.pick([0, 0xffffffff, 0x80000000]) : rng.next();
}

/** A frame with any opcode (reserved ones too), random RSV bits, FIN and masking. */
function randomFrame(rng: Prng, allowLarge: boolean): FrameSpec {
  const opcode = rng.int(16);
  const length = randomLength(rng, allowLarge);
  const payload = (opcode === 0 || opcode === 1) && rng.chance(0.7) ? randomMaybeInvalidText(rng, length, 0.3) : rng.bytes(length);
  return { opcode, fin: rng.chance(0.7), rsv: rng.chance(0.2) ? rng.int(8) : 0, maskKey: maskKeyOrNull(rng), payload };
}

function controlFrame(rng: Prng): FrameSpec {
  const opcode = rng.pick([9, 9, 10, 8]);
  return { opcode, fin: true, rsv: 0, maskKey: maskKeyOrNull(rng), payload: rng.bytes(rng.pick([0, 2, 5, 125])) };
}

/** A text (or binary) message cut into fragments at random byte offsets, control frames in between. */
function fragmentedMessage(rng: Prng, allowLarge: boolean): FrameSpec[] {
  const text = rng.chance(0.8);
  const message = text ? randomMaybeInvalidText(rng, randomLength(rng, allowLarge), 0.35) : rng.bytes(randomLength(rng, allowLarge));
  const cuts = Array.from({ length: rng.int(5) }, () => rng.int(message.length + 1)).sort((a, b) => a - b);
  const bounds = [0, ...cuts, message.length];
  const frames: FrameSpec[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    if (i > 0 && rng.chance(0.4)) frames.push(controlFrame(rng));
    frames.push({
      opcode: i === 0 ? (text ? 1 : 2) : 0, fin: i + 2 === bounds.length, rsv: 0,
      maskKey: maskKeyOrNull(rng), payload: message.slice(bounds[i], bounds[i + 1]),
    });
  }
  return frames;
}

/** A random stream of frames; when `truncate`, it may stop inside a header or payload. */
export function randomStream(rng: Prng, options: { allowLarge: boolean; truncate: boolean; maxFrames?: number }): FrameStream {
  const frames: FrameSpec[] = [];
  const count = 1 + rng.int(options.maxFrames ?? 6);
  for (let i = 0; i < count; i++) {
    if (rng.chance(0.35)) frames.push(...fragmentedMessage(rng, options.allowLarge));
    else if (rng.chance(0.2)) frames.push(controlFrame(rng));
    else frames.push(randomFrame(rng, options.allowLarge));
  }
  const bytes = concatBytes(frames.map(encodeFrame));
  if (options.truncate && bytes.length > 0 && rng.chance(0.7)) {
    return { bytes: bytes.slice(0, rng.int(bytes.length)), frames, truncated: true };
  }
  return { bytes, frames, truncated: false };
}

/** A stream whose last frame declares a 64-bit length far beyond the bytes present. */
export function hugeFrameStream(rng: Prng): FrameStream {
  const frames = randomStream(rng, { allowLarge: false, truncate: false, maxFrames: 3 }).frames;
  // JS keeps the remaining count as a double: exact below 2^53, and for these multiples of 2^32.
  const declaredLength = rng.pick([65536 * 65536, 2 ** 32 + 5, 2 ** 40 + 12345, 2 ** 53 - 1, 2 ** 63, 2 ** 64 - 2 ** 32]);
  const present = declaredLength >= 2 ** 53 ? 0 : rng.int(300); // see S_REMAINING_*: no payload once beyond 2^53
  const opcode = rng.pick([1, 2, 0, 9]);
  const payload = opcode === 1 ? randomMaybeInvalidText(rng, present, 0.3).subarray(0, present) : rng.bytes(present);
  frames.push({ opcode, fin: rng.chance(0.5), rsv: 0, maskKey: maskKeyOrNull(rng), payload, declaredLength });
  return { bytes: concatBytes(frames.map(encodeFrame)), frames, truncated: true };
}

/** What a codec produced for a stream: every record, every unmasked segment, the final state. */
export interface Trace {
  records: number[];
  payload: Uint8Array;
  state: number[];
  pendingLength: number;
}

class ByteSink {
  #buf = new Uint8Array(1024);
  #length = 0;
  push(bytes: Uint8Array): void {
    if (this.#length + bytes.length > this.#buf.length) {
      const grown = new Uint8Array(Math.max(this.#buf.length * 2, this.#length + bytes.length));
      grown.set(this.#buf.subarray(0, this.#length));
      this.#buf = grown;
    }
    this.#buf.set(bytes, this.#length);
    this.#length += bytes.length;
  }
  bytes(): Uint8Array { return this.#buf.slice(0, this.#length); }
}

/**
 * Feeds `stream` to `codec` in chunks cut at `cuts` (ascending offsets), like the protocol:
 * the unconsumed tail is the next load's pending, and scan resumes from S_CONSUMED while it
 * filled RECORD_CAPACITY records. Records and segments are copied out after each scan.
 */
export function drive(codec: FrameCodec, stream: Uint8Array, cuts: readonly number[], copyPending = false, stateFlags = 0): Trace {
  const bytes = stream.slice(); // JsCodec unmasks the caller's chunk in place
  const state = codec.createState();
  state[S_FLAGS] = stateFlags;
  const records: number[] = [];
  const payload = new ByteSink();
  let pending: Uint8Array | null = null;
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    const work = codec.load(pending, bytes.subarray(from, to));
    from = to;
    let start = 0;
    for (;;) {
      const count = codec.scan(state, work, start);
      const view = codec.records;
      for (let i = 0; i < count; i++) {
        for (let w = 0; w < RECORD_WORDS; w++) records.push(view[i * RECORD_WORDS + w]);
        const segmentStart = segmentStartOf(view, i);
        payload.push(work.subarray(segmentStart, segmentStart + segmentLengthOf(view, i)));
      }
      start = state[S_CONSUMED];
      if (count < RECORD_CAPACITY) break;
    }
    pending = work.subarray(state[S_CONSUMED]);
    if (copyPending) pending = pending.slice();
  }
  return { records, payload: payload.bytes(), state: Array.from(state), pendingLength: pending?.length ?? 0 };
}

/** A description of the first difference between two traces, or null when they are identical. */
export function firstDifference(a: Trace, b: Trace): string | null {
  const n = Math.min(a.records.length, b.records.length);
  for (let i = 0; i < n; i++) {
    if (a.records[i] !== b.records[i]) {
      const r = i - (i % RECORD_WORDS);
      return `record ${r / RECORD_WORDS} word ${i % RECORD_WORDS}: [${a.records.slice(r, r + RECORD_WORDS)}] vs [${b.records.slice(r, r + RECORD_WORDS)}]`;
    }
  }
  if (a.records.length !== b.records.length) return `record count ${a.records.length / RECORD_WORDS} vs ${b.records.length / RECORD_WORDS}`;
  if (a.payload.length !== b.payload.length) return `payload length ${a.payload.length} vs ${b.payload.length}`;
  const at = a.payload.findIndex((byte, i) => byte !== b.payload[i]);
  if (at !== -1) return `payload byte ${at}: ${a.payload[at]} vs ${b.payload[at]}`;
  if (a.state.join() !== b.state.join()) return `state [${a.state}] vs [${b.state}]`;
  if (a.pendingLength !== b.pendingLength) return `pending ${a.pendingLength} vs ${b.pendingLength}`;
  return null;
}

/**
 * Checks a trace of a complete stream against the frames that were encoded: headers, unmasked
 * payloads, and the UTF-8 verdict at the end of each text message against Node's isUtf8.
 */
export function checkAgainstFrames(trace: Trace, frames: readonly FrameSpec[]): string | null {
  let frameIndex = -1;
  let payloadAt = 0;
  let collected: Uint8Array[] = [];
  let textMessage: Uint8Array[] | null = null;
  const records = Int32Array.from(trace.records);
  for (let i = 0; i < recordCount(records); i++) {
    if (startsFrame(records, i)) {
      const f = frames[++frameIndex];
      if (f === undefined) return `record ${i}: more frames than encoded`;
      if (opcode(records, i) !== f.opcode || fin(records, i) !== f.fin || rsv(records, i) !== f.rsv << 4
        || masked(records, i) !== (f.maskKey !== null) || frameLength(records, i) !== f.payload.length
        || (f.maskKey !== null && maskKey(records, i) !== f.maskKey >>> 0)) {
        return `frame ${frameIndex}: header record [${copyRecords(records, i, i + 1)}] does not match`;
      }
      collected = [];
      if (f.opcode === 1) textMessage = [];
      else if (f.opcode === 2) textMessage = null;
    }
    const f = frames[frameIndex];
    const segmentLength = segmentLengthOf(records, i);
    collected.push(trace.payload.subarray(payloadAt, payloadAt + segmentLength));
    payloadAt += segmentLength;
    const isText = f.opcode === 1 || (f.opcode === 0 && textMessage !== null);
    if (!isText && utf8Invalid(records, i)) return `frame ${frameIndex}: UTF-8 flag on a non-text payload`;
    if (endsFrame(records, i)) {
      const whole = concatBytes(collected);
      if (Buffer.compare(whole, f.payload) !== 0) return `frame ${frameIndex}: unmasked payload differs`;
      if (isText) textMessage!.push(whole);
      if (opcode(records, i) < 8 && fin(records, i)) {
        if (isText && utf8Invalid(records, i) !== !isUtf8(concatBytes(textMessage!))) {
          return `frame ${frameIndex}: UTF-8 verdict disagrees with isUtf8`;
        }
        textMessage = null;
      }
    }
  }
  if (frameIndex !== frames.length - 1) return `saw ${frameIndex + 1} of ${frames.length} frames`;
  return null;
}
