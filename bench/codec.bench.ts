/**
 * Codec microbenchmarks: JS vs WASM vs the native references, side by side in one process
 * (`npm run bench:codec`, `npm run bench:codec -- --quick` for a short run).
 *
 * (a) Unmask (RFC 6455 §5.3): JsCodec byte loop (baseline) · WASM on bytes already in linear
 *     memory · WASM including the copy in (load()) · WASM on a buffer outside linear memory
 *     (copy in and back out) · native bufferutil.unmask (reference) and bufferutil.mask.
 * (b) Header parse: scan() of one 64 KiB chunk of small masked frames, and of one frame of
 *     each size; JS vs WASM (in memory, and including load()); frames/s and ns/frame.
 * (c) UTF-8 validation on ASCII and mixed text: JsCodec (baseline) · WASM in memory · WASM
 *     with copy in · utf-8-validate · buffer.isUtf8 (simdutf, reference) · and the fail-fast
 *     hybrid the server can use (isUtf8 on the whole characters, the streaming validator on
 *     the ≤ 3 bytes before and after).
 * Then the codec targets and a "which validator where" table, both computed from the
 * numbers of this run. Everything is printed and written to bench/results/codec.md.
 *
 * Rates come from the fastest `benchmark` sample over a few interleaved rounds (see run()); ±rme is
 * benchmark's relative margin of error of the round that had the fastest sample.
 */
import Benchmark from 'benchmark';
import { isUtf8 } from 'node:buffer';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JsCodec } from '../src/codec/js-codec.js';
import { createWasmCodec } from '../src/codec/wasm-codec.js';
import { validateTextSegment } from '../src/protocol/utf8-validator.js';
import {
  FrameCodec, R_FLAGS, R_FRAME_DONE, RF_UTF8_INVALID, S_CONSUMED, UTF8_ACCEPT, UTF8_REJECT, headerLength,
} from '../src/codec/codec.js';

// ---------------------------------------------------------------------------------------------
// Options and the native references

const QUICK = process.argv.includes('--quick');
/**
 * Sampling: the cases of one input (all implementations at one size) run interleaved, ROUNDS
 * times over; each round is one benchmark run of a case (maxTime, minimum samples, minimum
 * seconds per sample). Interleaving spreads a burst of interference over all implementations
 * instead of one. 176 cases: about 2½ min by default; --quick under 30 s.
 */
const ROUNDS = QUICK ? 1 : 3;
const MAX_TIME = QUICK ? 0.05 : 0.1;
const MIN_SAMPLES = 5;
const MIN_TIME = QUICK ? 0.01 : 0.02;
const SIZES: readonly [string, number][] = [
  ['16 B', 16], ['125 B', 125], ['1 KiB', 1024], ['16 KiB', 16384], ['64 KiB', 65536], ['1 MiB', 1048576],
];
const MAX_SIZE = 1048576;
/** A mask key as codec.ts keeps it: the 4 wire bytes read little-endian. */
const MASK_KEY = 0x3d21fa37;
const RESULTS_FILE = fileURLToPath(new URL('../../bench/results/codec.md', import.meta.url));

interface BufferUtil {
  mask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
  unmask(buffer: Buffer, mask: Buffer): void;
}
type Utf8Validate = (buffer: Uint8Array) => boolean;

const require = createRequire(import.meta.url);
const bufferutil = require('bufferutil') as BufferUtil;
const utf8Validate: Utf8Validate = (() => {
  const exported = require('utf-8-validate') as Utf8Validate | { isValidUTF8: Utf8Validate };
  return typeof exported === 'function' ? exported : exported.isValidUTF8;
})();
// node-gyp-build falls back to JS when no addon loads: the "native" rows would then lie.
for (const name of ['bufferutil', 'utf-8-validate']) {
  const dir = dirname(require.resolve(name));
  if (!Object.keys(require.cache).some((file) => file.startsWith(dir) && file.endsWith('.node'))) {
    console.warn(`warning: ${name} runs its JS fallback, not the native addon`);
  }
}

// Let benchmark call the test function instead of decompiling its source: the closures below
// read module variables that a decompiled copy could not see.
(Benchmark as unknown as { support: { decompilation: boolean } }).support.decompilation = false;

// ---------------------------------------------------------------------------------------------
// Measuring and reporting

interface Result {
  group: string; // which table
  size: string;
  name: string;
  /** Payload bytes per call (for MB/s). */
  bytes: number;
  /** Frames per call (header parse), else 1. */
  frames: number;
  hz: number; // calls per second
  rme: number;
}

const results: Result[] = [];
let cases = 0;

interface Pending { result: Result; fn: () => void }
let pending: Pending[] = [];

/** Queues one case; run() measures the queued cases. */
function measure(group: string, size: string, name: string, bytes: number, fn: () => void, frames = 1): void {
  const result = { group, size, name, bytes, frames, hz: 0, rme: 0 };
  results.push(result);
  pending.push({ result, fn });
}

/**
 * Runs the queued cases ROUNDS times, interleaved. A case's rate is 1 / its fastest sample over all
 * rounds (a sample is the mean of many calls over ≥ MIN_TIME s): interference from other processes
 * only ever slows a sample down, so the fastest one is the least disturbed, for every implementation alike.
 */
function run(): void {
  for (let round = 0; round < ROUNDS; round++) {
    for (const { result, fn } of pending) {
      const bench = new Benchmark(`${result.group} ${result.name} ${result.size}`, fn, { maxTime: MAX_TIME, minSamples: MIN_SAMPLES, minTime: MIN_TIME });
      bench.run();
      if (bench.error) throw bench.error;
      const hz = 1 / Math.min(...bench.stats.sample);
      if (hz > result.hz) {
        result.hz = hz;
        result.rme = bench.stats.rme;
      }
      if (process.stderr.isTTY) process.stderr.write(`\r${cases + 1} cases, round ${round + 1}… ${result.group} ${result.size} ${result.name}`.padEnd(100).slice(0, 100));
    }
  }
  cases += pending.length;
  pending = [];
}

function find(group: string, size: string, name: string): Result | undefined {
  return results.find((r) => r.group === group && r.size === size && r.name === name);
}

const mbps = (r: Result) => (r.bytes * r.hz) / 1e6;
const nsPerCall = (r: Result) => 1e9 / r.hz;
function fmt(value: number): string {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}
const ratio = (r: Result, base: Result | undefined) => (base === undefined ? '–' : `${fmt(r.hz / base.hz)}×`);

/** A Markdown table of one group: MB/s, ns/call and the ratios against the baseline and the reference. */
function table(title: string, group: string, baseline: string, reference: string | null, note = ''): string {
  const rows = results.filter((r) => r.group === group);
  const lines = [`### ${title}`, ''];
  if (note) lines.push(note, '');
  lines.push(
    `| size | implementation | MB/s | ns/call | ±rme | × JS baseline |${reference ? ' × native reference |' : ''}`,
    `|---:|---|---:|---:|---:|---:|${reference ? '---:|' : ''}`,
  );
  for (const r of rows) {
    const base = find(group, r.size, baseline);
    const ref = reference ? find(group, r.size, reference) : undefined;
    lines.push(`| ${r.size} | ${r.name} | ${fmt(mbps(r))} | ${fmt(nsPerCall(r))} | ${r.rme.toFixed(1)}% | ${ratio(r, base)} |${reference ? ` ${ratio(r, ref)} |` : ''}`);
  }
  return lines.join('\n');
}

/** Header parse: frames/s and ns/frame besides MB/s of payload. */
function scanTable(title: string, group: string, baseline: string, note: string): string {
  const rows = results.filter((r) => r.group === group);
  const lines = [
    `### ${title}`, '', note, '',
    '| input | implementation | frames/call | Mframes/s | ns/frame | payload MB/s | ±rme | × JS baseline |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(`| ${r.size} | ${r.name} | ${r.frames} | ${fmt((r.hz * r.frames) / 1e6)} | ${fmt(1e9 / (r.hz * r.frames))} | ${fmt(mbps(r))} | ${r.rme.toFixed(1)}% | ${ratio(r, find(group, r.size, baseline))} |`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Inputs

/** About `length` bytes of text, 3 in 4 characters ASCII, the rest 2-, 3- and 4-byte characters. */
function mixedText(length: number): Uint8Array {
  const pieces = ['hello ', 'wörld ', 'naïve ', '€ ', '✓ ', '😀 ', 'plain ascii ', 'ünïcödé '];
  const parts: string[] = [];
  let byteLength = 0;
  for (let i = 0; byteLength < length + 4; i++) {
    const piece = pieces[(i * 7) % pieces.length];
    parts.push(piece);
    byteLength += Buffer.byteLength(piece);
  }
  const bytes = Buffer.from(parts.join(''));
  let end = length; // cut on a character boundary, pad with spaces
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  const out = Buffer.alloc(length, 0x20);
  out.set(bytes.subarray(0, end));
  return out;
}

const asciiText = (length: number): Uint8Array => Buffer.alloc(length, 'The quick brown fox jumps over the lazy dog. ');
const UTF8_KINDS = [['ASCII', asciiText], ['mixed', mixedText]] as const;

/** `count` masked frames of `payload` bytes each, opcode `opcode`, back to back. */
function frames(count: number, payload: number, opcode: number, maskKey: number, fill: number): Uint8Array {
  const size = headerLength(payload, true) + payload;
  const out = new Uint8Array(count * size);
  const js = new JsCodec();
  for (let i = 0, p = 0; i < count; i++) {
    p += js.writeHeader(out, p, opcode, true, payload, maskKey);
    out.fill(fill, p, p + payload);
    js.mask(out, p, payload, maskKey, 0);
    p += payload;
  }
  return out;
}

/** One masked frame carrying `payload`, with key 0: in-place unmasking leaves it as it is, run after run. */
function frameOf(payload: Uint8Array, opcode: number): Uint8Array {
  const out = new Uint8Array(headerLength(payload.length, true) + payload.length);
  const p = new JsCodec().writeHeader(out, 0, opcode, true, payload.length, 0);
  out.set(payload, p);
  return out;
}

/** Scans a whole work buffer (several scan() calls when it holds more than RECORD_CAPACITY frames); returns the records. */
function scanAll(codec: FrameCodec, state: Uint32Array, work: Uint8Array): number {
  let start = 0;
  let records = 0;
  while (start < work.length) {
    const n = codec.scan(state, work, start);
    if (n === 0) break;
    records += n;
    start = state[S_CONSUMED];
  }
  return records;
}

/**
 * The hybrid, as the server runs it on each text segment (src/protocol/utf8-validator.ts):
 * measured here on the payload view the server already has, so the bench times the real path.
 */
function validateHybrid(segment: Uint8Array, state: number): number {
  return validateTextSegment(segment, 0, segment.length, state);
}

/**
 * The hybrid must judge every split of a message into two segments exactly as the streaming
 * validator does: a self-check on valid text and on each kind of bad sequence, at every split.
 */
function checkHybrid(codec: FrameCodec): void {
  const samples = [
    mixedText(300),
    Buffer.from('ab€😀'), Buffer.from('x\u00e9'),
    Uint8Array.of(0x61, 0xed, 0xa0, 0x80, 0x62), // surrogate
    Uint8Array.of(0x61, 0xe0, 0x80, 0x80, 0x62), // overlong
    Uint8Array.of(0x61, 0xf4, 0x90, 0x80, 0x80), // > U+10FFFF
    Uint8Array.of(0x61, 0x80, 0x62), // stray continuation
    Uint8Array.of(0x61, 0x62, 0xf0, 0x9f, 0x98), // ends inside a character
    Uint8Array.of(0xe2, 0x82), Uint8Array.of(0x82, 0xac),
  ];
  for (const sample of samples) {
    for (let cut = 0; cut <= sample.length; cut++) {
      const streaming = codec.validateUtf8(sample, cut, sample.length - cut, codec.validateUtf8(sample, 0, cut, UTF8_ACCEPT));
      const first = validateHybrid(sample.subarray(0, cut), UTF8_ACCEPT);
      const hybrid = first === UTF8_REJECT ? UTF8_REJECT : validateHybrid(sample.subarray(cut), first);
      const verdict = (state: number) => (state === UTF8_ACCEPT ? 'valid' : state === UTF8_REJECT ? 'invalid' : 'incomplete');
      if (streaming !== hybrid) {
        throw new Error(`hybrid validator: ${verdict(hybrid)} (${hybrid}) but streaming ${verdict(streaming)} (${streaming}) for [${[...sample].map((b) => b.toString(16))}] cut at ${cut}`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The run

const js = new JsCodec();
const wasm = createWasmCodec();
// Grow linear memory once, up front: growth would detach the in-memory views taken below.
wasm.load(null, new Uint8Array(MAX_SIZE + 2 * 65536));
checkHybrid(js);
checkHybrid(wasm);
let sink = 0; // keeps results observable so nothing is optimized away
const started = Date.now();

// (a) Unmask ------------------------------------------------------------------------------------
const MASK = 'unmask';
const keyBytes = Buffer.from([MASK_KEY & 0xff, (MASK_KEY >>> 8) & 0xff, (MASK_KEY >>> 16) & 0xff, MASK_KEY >>> 24]);
const M_JS = 'JsCodec.mask byte loop (baseline)';
const M_WASM = 'WASM, bytes in linear memory';
const M_WASM_LOAD = 'WASM + copy in (load)';
const M_WASM_IO = 'WASM + copy in and out';
const M_NATIVE = 'bufferutil.unmask (native reference)';
const M_NATIVE_MASK = 'bufferutil.mask, source → output';
for (const [size, n] of SIZES) {
  const data = Buffer.alloc(n);
  for (let i = 0; i < n; i++) data[i] = (i * 31) & 0xff;
  // Same result from every implementation (key phase 0, as bufferutil has no phase).
  const expected = Uint8Array.from(data);
  js.mask(expected, 0, n, MASK_KEY, 0);
  const check = (name: string, got: Uint8Array) => {
    if (Buffer.compare(Buffer.from(got.buffer, got.byteOffset, got.length), expected) !== 0) throw new Error(`unmask: ${name} differs from JsCodec at ${size}`);
  };
  const viaWasm = Uint8Array.from(data); wasm.mask(viaWasm, 0, n, MASK_KEY, 0); check(M_WASM_IO, viaWasm);
  const inMemoryCheck = wasm.load(null, data); wasm.mask(inMemoryCheck, 0, n, MASK_KEY, 0); check(M_WASM, inMemoryCheck);
  const viaNative = Buffer.from(data); bufferutil.unmask(viaNative, keyBytes); check(M_NATIVE, viaNative);
  const output = Buffer.alloc(n); bufferutil.mask(data, keyBytes, output, 0, n); check(M_NATIVE_MASK, output);

  const plain = Buffer.from(data);
  measure(MASK, size, M_JS, n, () => { sink ^= js.mask(plain, 0, n, MASK_KEY, 0); });
  const inMemory = wasm.load(null, data);
  measure(MASK, size, M_WASM, n, () => { sink ^= wasm.mask(inMemory, 0, n, MASK_KEY, 0); });
  measure(MASK, size, M_WASM_LOAD, n, () => {
    const work = wasm.load(null, data);
    sink ^= wasm.mask(work, 0, n, MASK_KEY, 0);
  });
  measure(MASK, size, M_WASM_IO, n, () => { sink ^= wasm.mask(plain, 0, n, MASK_KEY, 0); });
  measure(MASK, size, M_NATIVE, n, () => { bufferutil.unmask(plain, keyBytes); sink ^= plain[0]; });
  measure(MASK, size, M_NATIVE_MASK, n, () => { bufferutil.mask(data, keyBytes, output, 0, n); sink ^= output[0]; });
  run();
}

// (b) Header parse --------------------------------------------------------------------------------
const SCAN = 'scan';
const S_JS = 'JsCodec.scan (baseline)';
const S_WASM = 'WASM scan, bytes in linear memory';
const S_WASM_LOAD = 'WASM load + scan';
const SMALL_PAYLOAD = 20;
const SMALL_FRAMES = Math.floor(65536 / (headerLength(SMALL_PAYLOAD, true) + SMALL_PAYLOAD));
/** Label, chunk, frames in it, payload bytes, whether to measure "load + scan" too. */
type ScanInput = [string, Uint8Array, number, number, boolean];
/** Frames of `n` payload bytes that fit in a 64 KiB chunk (at least 1). */
const perChunk = (n: number) => Math.max(1, Math.floor(65536 / (headerLength(n, true) + n)));
const binaryChunk = (size: string) => (perChunk(SIZES.find(([s]) => s === size)![1]) === 1 ? `1 binary frame of ${size}` : `${perChunk(SIZES.find(([s]) => s === size)![1])} binary frames of ${size}, key 0`);
const textChunk = (size: string, kind: string) => `${perChunk(SIZES.find(([s]) => s === size)![1])} text frame(s) of ${size}, ${kind}, key 0`;
/** perChunk(payload.length) frames carrying `payload` back to back. */
const repeatFrame = (payload: Uint8Array, opcode: number) => {
  const one = frameOf(payload, opcode);
  const count = perChunk(payload.length);
  const out = new Uint8Array(one.length * count);
  for (let i = 0; i < count; i++) out.set(one, i * one.length);
  return out;
};
const scanInputs: ScanInput[] = [
  // Binary frames with a real key; text frames with key 0 so that repeated in-place unmasking
  // leaves valid text for the validator (the XOR work is the same for any key).
  [`64 KiB chunk, ${SMALL_FRAMES} binary frames of ${SMALL_PAYLOAD} B`, frames(SMALL_FRAMES, SMALL_PAYLOAD, 2, MASK_KEY, 0x61), SMALL_FRAMES, SMALL_FRAMES * SMALL_PAYLOAD, true],
  [`64 KiB chunk, ${SMALL_FRAMES} text frames of ${SMALL_PAYLOAD} B (UTF-8 checked)`, frames(SMALL_FRAMES, SMALL_PAYLOAD, 1, 0, 0x61), SMALL_FRAMES, SMALL_FRAMES * SMALL_PAYLOAD, true],
  ...SIZES.map(([size, n]): ScanInput => [`1 binary frame of ${size}`, frames(1, n, 2, MASK_KEY, 0x61), 1, n, true]),
  // About 64 KiB of binary frames of each size, and the same of text frames: text minus binary per
  // frame is what validation costs inside scan(). Key 0 for both, so the bytes stay as they are.
  ...SIZES.filter(([, n]) => perChunk(n) > 1).map(([size, n]): ScanInput => [binaryChunk(size), repeatFrame(new Uint8Array(n).fill(0x61), 2), perChunk(n), perChunk(n) * n, false]),
  ...UTF8_KINDS.flatMap(([kind, make]) => SIZES.map(([size, n]): ScanInput => [textChunk(size, kind), repeatFrame(make(n), 1), perChunk(n), perChunk(n) * n, false])),
];
for (const [label, chunk, count, payloadBytes, withLoad] of scanInputs) {
  const jsWork = Uint8Array.from(chunk);
  const jsState = js.createState();
  const wasmState = wasm.createState();
  for (const [name, codec, work] of [['js', js, Uint8Array.from(chunk)], ['wasm', wasm, wasm.load(null, chunk)]] as const) {
    const state = codec.createState();
    const got = scanAll(codec, state, work);
    if (got !== count) throw new Error(`scan: ${name} found ${got} records in "${label}", expected ${count}`);
    // The last record of the last call: the inputs are valid, so no UTF-8 finding.
    const lastFrame = chunk.length - chunk.length / count; // all frames of a chunk have one size
    const records = codec.scan(codec.createState(), work, lastFrame);
    if (records !== 1 || (codec.records[R_FLAGS] & RF_UTF8_INVALID) !== 0 || codec.records[R_FRAME_DONE] !== 1) {
      throw new Error(`scan: ${name} misreads the last frame of "${label}"`);
    }
  }
  measure(SCAN, label, S_JS, payloadBytes, () => { sink ^= scanAll(js, jsState, jsWork); }, count);
  const inMemory = wasm.load(null, chunk);
  measure(SCAN, label, S_WASM, payloadBytes, () => { sink ^= scanAll(wasm, wasmState, inMemory); }, count);
  if (withLoad) measure(SCAN, label, S_WASM_LOAD, payloadBytes, () => { sink ^= scanAll(wasm, wasmState, wasm.load(null, chunk)); }, count);
  run();
}

// (c) UTF-8 validation ----------------------------------------------------------------------------
const U_JS = 'JsCodec.validateUtf8 (baseline)';
const U_WASM = 'WASM, bytes in linear memory';
const U_WASM_COPY = 'WASM + copy in';
const U_NPM = 'utf-8-validate';
const U_NODE = 'buffer.isUtf8 (native reference)';
const U_HYBRID = 'hybrid: isUtf8 + streaming ends';
const U_NODE_SUBARRAY = 'buffer.isUtf8 on a new subarray';
for (const [kind, make] of UTF8_KINDS) {
  const group = `utf8 ${kind}`;
  for (const [size, n] of SIZES) {
    const text = make(n);
    const inMemory = wasm.load(null, text);
    // Every validator must accept the input, and reject it once a byte is broken.
    const broken = Uint8Array.from(text); broken[n >> 1] = 0xff;
    for (const [name, ok, bad] of [
      [U_JS, js.validateUtf8(text, 0, n, UTF8_ACCEPT) === UTF8_ACCEPT, js.validateUtf8(broken, 0, n, UTF8_ACCEPT) === UTF8_ACCEPT],
      [U_WASM, wasm.validateUtf8(inMemory, 0, n, UTF8_ACCEPT) === UTF8_ACCEPT, wasm.validateUtf8(broken, 0, n, UTF8_ACCEPT) === UTF8_ACCEPT],
      [U_NPM, utf8Validate(text), utf8Validate(broken)],
      [U_NODE, isUtf8(text), isUtf8(broken)],
      [U_HYBRID, validateHybrid(text, UTF8_ACCEPT) === UTF8_ACCEPT, validateHybrid(broken, UTF8_ACCEPT) === UTF8_ACCEPT],
    ] as const) {
      if (!ok || bad) throw new Error(`utf8: ${name} misjudges the ${kind} ${size} input (accepts valid: ${ok}, accepts broken: ${bad})`);
    }
    measure(group, size, U_JS, n, () => { sink ^= js.validateUtf8(text, 0, n, UTF8_ACCEPT); });
    measure(group, size, U_WASM, n, () => { sink ^= wasm.validateUtf8(inMemory, 0, n, UTF8_ACCEPT); });
    measure(group, size, U_WASM_COPY, n, () => { sink ^= wasm.validateUtf8(text, 0, n, UTF8_ACCEPT); });
    measure(group, size, U_NPM, n, () => { sink ^= utf8Validate(text) ? 1 : 0; });
    measure(group, size, U_NODE, n, () => { sink ^= isUtf8(text) ? 1 : 0; });
    // The segment as a part of a larger chunk, when no payload view exists yet: isUtf8 takes no offset.
    const chunk = Buffer.alloc(n + 32, 0x20); chunk.set(text, 16);
    measure(group, size, U_NODE_SUBARRAY, n, () => { sink ^= isUtf8(chunk.subarray(16, 16 + n)) ? 1 : 0; });
    // The hybrid on the payload view the server makes for the application anyway.
    measure(group, size, U_HYBRID, n, () => { sink ^= validateHybrid(text, UTF8_ACCEPT); });
    run();
  }
}
if (process.stderr.isTTY) process.stderr.write('\r'.padEnd(101) + '\r');

// ---------------------------------------------------------------------------------------------
// Targets and conclusions, from this run's numbers

function targets(): string {
  const lines = [
    '### Targets, from this run', '',
    '| target | size | measured | met |',
    '|---|---:|---:|:---:|',
  ];
  /** yes; or no, saying whether the shortfall is inside the two cases' margins of error. */
  const verdict = (r: Result, base: Result, factor: number) => {
    const x = r.hz / base.hz;
    if (x >= factor) return 'yes';
    return x >= factor * (1 - (r.rme + base.rme) / 100) ? '**no**, within ±rme (a tie)' : '**no**';
  };
  for (const [size, n] of SIZES) {
    if (n < 1024) continue;
    const w = find(MASK, size, M_WASM)!, base = find(MASK, size, M_JS)!;
    lines.push(`| WASM unmask (in memory) ≥ 10× JS byte loop | ${size} | ${fmt(w.hz / base.hz)}× | ${verdict(w, base, 10)} |`);
  }
  for (const [size, n] of SIZES) {
    if (n < 16384) continue;
    const w = find(MASK, size, M_WASM)!, ref = find(MASK, size, M_NATIVE)!;
    lines.push(`| WASM unmask (in memory) ≥ bufferutil.unmask | ${size} | ${fmt(w.hz / ref.hz)}× | ${verdict(w, ref, 1)} |`);
  }
  return lines.join('\n');
}

/**
 * For each text kind and size: the fastest validator of all (standalone calls), and the fastest
 * fail-fast way for each codec. Fail-fast across fragments needs a streaming state; the hybrid
 * keeps one at the segment ends. The codecs' own validators run inside scan() with no call of
 * their own: their cost there is measured as (scan of a text frame) − (scan of a binary frame of
 * the same size). The hybrid runs after scan() on the payload view the server hands out anyway
 * (for the WASM codec a view of linear memory: isUtf8 reads it where it is, no copy).
 */
function whichValidator(): string {
  const lines = [
    '### Which validator where (computed from this run)', '',
    'ns per text segment. "fastest of all" compares standalone calls and lists the others within 10 %. '
    + '"in scan()" is the validator\'s cost per frame inside the codec\'s scan: ns/frame of ~64 KiB of text frames of that size − the same of binary frames '
    + '(the header-parse rows). The hybrid (isUtf8 on the whole characters, the streaming validator on the ≤ 3 bytes at each end) '
    + 'is fail-fast across fragments too; buffer.isUtf8 and utf-8-validate alone judge only whole messages.', '',
    '| text | size | fastest of all (standalone) | JS codec: in scan() | hybrid | JS codec should use | gain | WASM codec: in scan() | WASM codec should use | gain |',
    '|---|---:|---|---:|---:|---|---:|---:|---|---:|',
  ];
  const short = (name: string) => name.replace(' (native reference)', '').replace(' (baseline)', '').replace(', bytes in linear memory', ' in memory');
  const scanNs = (label: string, name: string) => { const r = find(SCAN, label, name)!; return 1e9 / (r.hz * r.frames); };
  const ns = (value: number) => (value <= 0 ? '≈ 0' : fmt(value));
  for (const [kind] of UTF8_KINDS) {
    const group = `utf8 ${kind}`;
    for (const [size] of SIZES) {
      const all = [U_JS, U_WASM, U_WASM_COPY, U_NPM, U_NODE, U_HYBRID].map((name) => find(group, size, name)!).sort((a, b) => b.hz - a.hz);
      const ties = all.slice(1).filter((r) => r.hz >= all[0].hz * 0.9).map((r) => short(r.name));
      const fastest = `${short(all[0].name)} ${fmt(nsPerCall(all[0]))} ns${ties.length ? ` (≈ ${ties.join(', ')})` : ''}`;
      const hybrid = nsPerCall(find(group, size, U_HYBRID)!);
      const inScan = (codec: string) => scanNs(textChunk(size, kind), codec) - scanNs(binaryChunk(size), codec);
      const cells = [S_JS, S_WASM].map((codec) => {
        const own = inScan(codec);
        const useHybrid = hybrid < own;
        return `${ns(own)} | ${codec === S_JS ? `${fmt(hybrid)} | ` : ''}${useHybrid ? 'hybrid (isUtf8)' : 'its own, in scan()'} | ${useHybrid ? `${fmt(own / hybrid)}×` : '1×'}`;
      });
      lines.push(`| ${kind} | ${size} | ${fastest} | ${cells[0]} | ${cells[1]} |`);
    }
  }
  const perFrame = (name: string, text: boolean) => {
    const r = results.find((x) => x.group === SCAN && x.name === name && x.size.startsWith('64 KiB chunk') && x.size.includes(text ? 'text' : 'binary'))!;
    return 1e9 / (r.hz * r.frames);
  };
  const small = (name: string) => ns(perFrame(name, true) - perFrame(name, false));
  lines.push('', `Small frames: in the 64 KiB chunk of ${SMALL_PAYLOAD} B frames, validation adds ${small(S_WASM)} ns per frame to the WASM scan `
    + `and ${small(S_JS)} ns to the JS scan. A hybrid check on a segment that has no view yet also pays for a new subarray: `
    + 'the difference between the "isUtf8 on a new subarray" and "buffer.isUtf8" rows.');
  return lines.join('\n');
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
/** "L1d 48K, L2 2048K, …" from sysfs (Linux), for reading the large-size rows; '' elsewhere. */
function caches(): string {
  const found: string[] = [];
  for (let i = 0; i < 8; i++) {
    try {
      const dir = `/sys/devices/system/cpu/cpu0/cache/index${i}`;
      const read = (file: string) => readFileSync(`${dir}/${file}`, 'utf8').trim();
      const type = read('type');
      if (type !== 'Instruction') found.push(`L${read('level')}${type === 'Data' ? 'd' : ''} ${read('size')}`);
    } catch {
      break;
    }
  }
  return found.length ? `, cache sizes ${found.join(', ')}` : '';
}
const header = [
  '# Codec microbenchmark', '',
  `Node ${process.version}, ${cpu} (${cpus().length} cores${caches()}), benchmark.js, ${ROUNDS} interleaved round(s) of maxTime ${MAX_TIME} s per case${QUICK ? ' (--quick)' : ''}, `
  + `${cases} cases in ${((Date.now() - started) / 1000).toFixed(0)} s, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end. `
  + `MB = 10^6 bytes; rates from the fastest sample (the mean of the calls in ≥ ${MIN_TIME} s) over the rounds, ±rme of that sample's round; `
  + 'ns/call includes the benchmark\'s call of a closure (about 1–2 ns).',
  '',
  `Reproduce: \`npm run bench:codec\` (\`-- --quick\` for a short run). Written ${new Date().toISOString()}.`,
].join('\n');
const report = [
  header,
  table('Unmask (RFC 6455 §5.3), in place, key phase 0', MASK, M_JS, M_NATIVE,
    '"copy in" = load() stages the bytes into linear memory first; "copy in and out" = mask() on a buffer outside linear memory '
    + '(streamed through a 32 KiB scratch area and copied back). bufferutil.mask writes to a separate output buffer.'),
  table('UTF-8 validation, ASCII text', 'utf8 ASCII', U_JS, U_NODE),
  table('UTF-8 validation, mixed text (3 in 4 characters ASCII, the rest 2-, 3-, 4-byte)', 'utf8 mixed', U_JS, U_NODE),
  scanTable('Header parse: scan() (parse every header, unmask in place, validate text)', SCAN, S_JS,
    `Small frames: client frames with a ${SMALL_PAYLOAD} B payload (${headerLength(SMALL_PAYLOAD, true) + SMALL_PAYLOAD} B on the wire), `
    + 'as many as fit in 64 KiB; scan() is called again every 256 records. "load + scan" includes the copy of the chunk into linear memory.'),
  targets(),
  whichValidator(),
].join('\n\n') + '\n';

console.log(report);
mkdirSync(dirname(RESULTS_FILE), { recursive: true });
writeFileSync(RESULTS_FILE, report);
console.log(`(written to ${RESULTS_FILE})`);
if (sink === 0x7fffffff) console.log(''); // reads sink, so no measured call is dead code
