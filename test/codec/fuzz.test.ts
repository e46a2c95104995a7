/**
 * Mutation fuzzing of the two codecs side by side. differential.test.ts drives well-formed
 * (possibly truncated) streams from the generator; here the streams are broken on purpose:
 * random bytes, bit flips and byte edits of valid streams, 64-bit lengths of every size (2^63 − 1
 * included) with payload after them, control frames between the fragments of a message, and
 * every stream fed whole, in random chunks and byte by byte. WasmCodec and JsCodec must produce
 * the same records, unmasked payload bytes and scan state, and neither may throw (a WASM trap is
 * a throw). WasmCodec's remaining length is also checked exactly (BigInt) against its records.
 *
 * Seeded: without FUZZ_SEED every run (CI's included) replays the same fixed seed, so the suite
 * is deterministic; FUZZ_SEED=<n> replays another run (each failure message names its seed) and
 * FUZZ_SEED=random explores a new one. Bounded by iterations, never by time (FUZZ_ITERATIONS
 * scales them).
 */
import test from 'ava';
import { randomInt } from 'node:crypto';
import {
  FrameCodec, RECORD_WORDS, R_FLAGS, R_LENGTH_HI, R_LENGTH_LO, R_SEGMENT_LENGTH, RF_NEW_HEADER,
  S_FLAGS, S_REMAINING_HI, S_REMAINING_LO, SF_CALLER_VALIDATES_UTF8, SF_IN_FRAME,
} from '../../src/codec/codec.js';
import { JsCodec } from '../../src/codec/js-codec.js';
import { createWasmCodec } from '../../src/codec/wasm-codec.js';
import {
  Prng, type Trace, concatBytes, drive, encodeFrame, firstDifference, randomMaybeInvalidText, randomStream,
} from './frame-streams.js';

const DEFAULT_SEED = 0x6455_7692;
const SEED = (process.env.FUZZ_SEED === 'random' ? randomInt(2 ** 32) : envNumber('FUZZ_SEED', DEFAULT_SEED)) >>> 0;
const SCALE = envNumber('FUZZ_ITERATIONS', 1);

function envNumber(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined) return fallback;
  if (!/^\d+(\.\d+)?$/.test(value)) throw new TypeError(`${name} must be a number, got ${JSON.stringify(value)}`);
  return Number(value);
}
const iterations = (n: number) => Math.max(1, Math.round(n * SCALE));

const js = new JsCodec();
const wasm = createWasmCodec();

/** One PRNG per test, from the run's seed and the test's own number: tests stay independent. */
function rngFor(testNumber: number): Prng {
  return new Prng((SEED ^ Math.imul(testNumber, 0x9e3779b9)) >>> 0);
}

interface CurrentFrame {
  length: bigint;
  /** Payload bytes still to come. */
  remaining: bigint;
}

/**
 * The frame a trace ends inside, computed exactly from the trace's own records: the last header's
 * 64-bit length minus the segments since. Undefined between frames.
 */
function currentFrame(trace: Trace): CurrentFrame | undefined {
  if ((trace.state[S_FLAGS]! & SF_IN_FRAME) === 0) return undefined;
  let seen = 0;
  for (let r = trace.records.length - RECORD_WORDS; r >= 0; r -= RECORD_WORDS) {
    seen += trace.records[r + R_SEGMENT_LENGTH]!;
    if ((trace.records[r + R_FLAGS]! & RF_NEW_HEADER) !== 0) {
      const length = (BigInt(trace.records[r + R_LENGTH_HI]! >>> 0) << 32n) | BigInt(trace.records[r + R_LENGTH_LO]! >>> 0);
      return { length, remaining: length - BigInt(seen) };
    }
  }
  return undefined; // drive() starts every trace between frames: not reached
}

function remainingOf(trace: Trace): bigint {
  return (BigInt(trace.state[S_REMAINING_HI]!) << 32n) | BigInt(trace.state[S_REMAINING_LO]!);
}

class Fuzz {
  readonly failures: string[] = [];
  runs = 0;

  constructor(readonly testNumber: number) {}

  /** Drives both codecs over `bytes` with `cuts`; records any difference, throw or inexact count. */
  check(what: string, bytes: Uint8Array, cuts: readonly number[], copyPending: boolean, stateFlags: number): void {
    this.runs++;
    const traces: Trace[] = [];
    for (const codec of [js, wasm] as FrameCodec[]) {
      try {
        traces.push(drive(codec, bytes, cuts, copyPending && codec === wasm, stateFlags));
      } catch (error) {
        this.#fail(what, bytes, cuts, `${codec.kind} threw ${(error as Error)?.stack ?? error}`);
        return;
      }
    }
    const [expected, actual] = traces as [Trace, Trace];
    const frame = currentFrame(actual);
    if (frame !== undefined && remainingOf(actual) !== frame.remaining) {
      this.#fail(what, bytes, cuts, `wasm remaining ${remainingOf(actual)}, exactly ${frame.remaining}`);
    }
    const difference = firstDifference(expected, actual);
    if (difference === null) return;
    this.#fail(what, bytes, cuts, difference);
  }

  /** Whole, at random cut points, and (for small streams) one byte at a time; both state flag settings. */
  checkAllSplits(what: string, bytes: Uint8Array, rng: Prng): void {
    const flags = rng.chance(0.3) ? SF_CALLER_VALIDATES_UTF8 : 0;
    this.check(what, bytes, [], false, flags);
    this.check(what, bytes, randomCuts(rng, bytes.length), rng.chance(0.5), flags);
    if (bytes.length <= 600) this.check(what, bytes, Array.from({ length: bytes.length }, (_, i) => i + 1), rng.chance(0.5), flags);
  }

  #fail(what: string, bytes: Uint8Array, cuts: readonly number[], why: string): void {
    if (this.failures.length >= 5) return;
    const hex = Buffer.from(bytes.subarray(0, 48)).toString('hex');
    this.failures.push(`FUZZ_SEED=${SEED} (test ${this.testNumber}) ${what}, ${bytes.length} bytes [${hex}${bytes.length > 48 ? '…' : ''}], `
      + `${cuts.length} cuts [${cuts.slice(0, 8)}${cuts.length > 8 ? '…' : ''}]: ${why}`);
  }
}

function randomCuts(rng: Prng, length: number): number[] {
  const cuts: number[] = [];
  for (let at = rng.int(8); at < length; at += 1 + (rng.chance(0.6) ? rng.int(6) : rng.int(400))) cuts.push(at);
  return cuts;
}

/** Bytes that mean something in a header: FIN/opcode combinations, the length escapes, mask bits. */
const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x08, 0x09, 0x0a, 0x7d, 0x7e, 0x7f, 0x80, 0x81, 0x82, 0x88, 0x89, 0x8a, 0xfe, 0xff, 0xfd, 0xfe];

/** One random edit: flip a bit, set an interesting byte, insert, delete, duplicate, or cut the tail. */
function mutate(rng: Prng, bytes: Uint8Array): Uint8Array {
  if (bytes.length === 0) return rng.bytes(1 + rng.int(4));
  const at = rng.int(bytes.length);
  const out = bytes.slice();
  switch (rng.int(6)) {
    case 0: out[at] ^= 1 << rng.int(8); return out;
    case 1: out[at] = rng.pick(INTERESTING_BYTES); return out;
    case 2: return concatBytes([bytes.subarray(0, at), rng.bytes(1 + rng.int(16)), bytes.subarray(at)]);
    case 3: return concatBytes([bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + 1 + rng.int(16)))]);
    case 4: {
      const end = Math.min(bytes.length, at + 1 + rng.int(64));
      return concatBytes([bytes.subarray(0, end), bytes.subarray(at, end), bytes.subarray(end)]);
    }
    default: return bytes.slice(0, at);
  }
}

/** 64-bit lengths around every boundary a double or a u32 pair could get wrong. */
function randomLength64(rng: Prng): { hi: number; lo: number } {
  const special: [number, number][] = [
    [0x7fff_ffff, 0xffff_ffff], // 2^63 − 1
    [0xffff_ffff, 0xffff_ffff], // 2^64 − 1 (most significant bit set: RFC 6455 §5.2 forbids it)
    [0x8000_0000, 0], [0x0020_0000, 0], [0x0020_0000, 1], [0x001f_ffff, 0xffff_ffff], // 2^63, 2^53, 2^53 + 1, 2^53 − 1
    [0, 0xffff_ffff], [1, 0], [0, 0x1_0000], [0, 0xffff], [0, 0], [0, 125], [0, 126],
  ];
  if (rng.chance(0.6)) return { hi: rng.pick(special)[0], lo: rng.pick(special)[1] };
  return { hi: rng.next(), lo: rng.next() };
}

/** A frame whose header declares a 64-bit length, followed by some payload bytes (masked or not). */
function frameWithLength64(rng: Prng, hi: number, lo: number): Uint8Array {
  const masked = rng.chance(0.7);
  const header = [rng.pick([0x81, 0x82, 0x01, 0x00, 0x89, 0x02 | (rng.int(8) << 4)]), (masked ? 0x80 : 0) | 127];
  for (const word of [hi, lo]) for (let shift = 24; shift >= 0; shift -= 8) header.push((word >>> shift) & 0xff);
  const key = masked ? Array.from(rng.bytes(4)) : [];
  const payload = rng.bytes(rng.chance(0.3) ? 0 : rng.int(700));
  for (let i = 0; i < payload.length && masked; i++) payload[i] ^= key[i & 3]!;
  return concatBytes([Uint8Array.from([...header, ...key]), payload]);
}

/** A text or binary message in fragments with control frames between them (and, broken, inside them). */
function fragmentsWithControlFrames(rng: Prng): Uint8Array {
  const text = rng.chance(0.7);
  const message = text ? randomMaybeInvalidText(rng, rng.int(500), 0.3) : rng.bytes(rng.int(500));
  const pieces = 1 + rng.int(8);
  const frames: Uint8Array[] = [];
  for (let i = 0, at = 0; i < pieces; i++) {
    const end = i + 1 === pieces ? message.length : Math.min(message.length, at + rng.int(message.length + 1));
    const maskKey = rng.chance(0.9) ? rng.next() : null;
    frames.push(encodeFrame({ opcode: i === 0 ? (text ? 1 : 2) : 0, fin: i + 1 === pieces, rsv: 0, maskKey, payload: message.slice(at, end) }));
    at = end;
    for (let c = rng.int(3); c > 0; c--) {
      const opcode = rng.pick([9, 9, 10, 8]);
      // Mostly legal control frames; sometimes oversized or unfinished ones (the protocol's business, not the codec's).
      const length = rng.chance(0.9) ? rng.int(126) : 126 + rng.int(300);
      frames.push(encodeFrame({ opcode, fin: rng.chance(0.9), rsv: 0, maskKey: rng.next(), payload: rng.bytes(length) }));
    }
  }
  return concatBytes(frames);
}

function report(t: { log(...values: unknown[]): void; deepEqual(a: unknown, b: unknown, message?: string): void; true(v: boolean, m?: string): void }, fuzz: Fuzz, minRuns: number): void {
  t.true(fuzz.runs >= minRuns, `only ${fuzz.runs} runs`);
  t.deepEqual(fuzz.failures, [], `FUZZ_SEED=${SEED}`);
}

test('random bytes: the codecs agree on records, payload and state, whole, in chunks and byte by byte', (t) => {
  const rng = rngFor(1);
  const fuzz = new Fuzz(1);
  for (let i = 0; i < iterations(400); i++) {
    // Pure noise, or noise after a valid header byte so that more of it parses as frames.
    const noise = rng.bytes(rng.int(300));
    const bytes = rng.chance(0.5) ? noise : concatBytes([Uint8Array.of(rng.pick(INTERESTING_BYTES), rng.pick(INTERESTING_BYTES)), noise]);
    fuzz.checkAllSplits(`random bytes #${i}`, bytes, rng);
  }
  report(t, fuzz, iterations(400) * 2);
});

test('valid streams with bit flips and byte edits: the codecs agree and neither throws', (t) => {
  const rng = rngFor(2);
  const fuzz = new Fuzz(2);
  for (let i = 0; i < iterations(400); i++) {
    let bytes = randomStream(rng, { allowLarge: rng.chance(0.1), truncate: false, maxFrames: 5 }).bytes;
    const edits = 1 + rng.int(rng.chance(0.8) ? 3 : 20);
    for (let e = 0; e < edits; e++) bytes = mutate(rng, bytes);
    fuzz.checkAllSplits(`stream #${i} after ${edits} edit(s)`, bytes, rng);
  }
  report(t, fuzz, iterations(400) * 2);
});

test('64-bit lengths up to 2^63 − 1 and 2^64 − 1 with payload after them: records and payload agree, WasmCodec counts exactly', (t) => {
  const rng = rngFor(3);
  const fuzz = new Fuzz(3);
  for (let i = 0; i < iterations(300); i++) {
    const { hi, lo } = randomLength64(rng);
    const before = rng.chance(0.5) ? randomStream(rng, { allowLarge: false, truncate: false, maxFrames: 2 }).bytes : new Uint8Array(0);
    const bytes = concatBytes([before, frameWithLength64(rng, hi, lo)]);
    fuzz.checkAllSplits(`length 0x${hi.toString(16)}_${lo.toString(16).padStart(8, '0')} #${i}`, rng.chance(0.2) ? mutate(rng, bytes) : bytes, rng);
  }
  report(t, fuzz, iterations(300) * 2);
});

test('pings, pongs and closes between fragments, also oversized or unfinished: the codecs agree at every split', (t) => {
  const rng = rngFor(4);
  const fuzz = new Fuzz(4);
  for (let i = 0; i < iterations(250); i++) {
    let bytes = fragmentsWithControlFrames(rng);
    if (rng.chance(0.3)) bytes = mutate(rng, bytes);
    fuzz.checkAllSplits(`fragmented message #${i}`, bytes, rng);
  }
  report(t, fuzz, iterations(250) * 2);
});

// Found by this fuzz: JsCodec kept its remaining count in a double, which rounds above 2^53
// (2^63 − 1 became 2^63), and a length that rounded to 2^64 was stored as 0, so it ended the
// frame at the next chunk and read payload as headers. It now counts in two u32 words, as WASM does.
test('a 2^63 − 1 length: JsCodec keeps the same exact remaining count as WasmCodec', (t) => {
  const frame = Uint8Array.from([0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
  const expected = drive(js, frame, []);
  const actual = drive(wasm, frame, []);
  t.is(remainingOf(actual), 2n ** 63n - 1n - 3n);
  t.is(remainingOf(expected), remainingOf(actual));
});

test('a 2^64 − 1 length fed in two chunks: JsCodec stays inside the frame like WasmCodec', (t) => {
  const frame = Uint8Array.from([0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 0x81, 0x00]);
  const expected = drive(js, frame, [11]);
  const actual = drive(wasm, frame, [11]);
  t.is(actual.records.length, 2 * RECORD_WORDS, 'WasmCodec: the header and one more payload segment');
  t.is(firstDifference(expected, actual), null);
});
