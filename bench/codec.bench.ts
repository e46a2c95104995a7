/**
 * Codec microbenchmarks, JS vs WASM side by side in one process (`npm run bench`).
 *
 * Unmask: JsCodec (baseline) · WASM on bytes already in linear memory · WASM including the
 * copy in (load()) · WASM on a buffer outside linear memory (copy in and back out).
 * UTF-8 validation: JsCodec (baseline) · WASM in linear memory · WASM with copy in ·
 * Node's buffer.isUtf8 (simdutf) as the reference, on ASCII and on mixed text.
 * Rates are from the median sample of `benchmark` (1 / median seconds per call).
 */
import Benchmark from 'benchmark';
import { isUtf8 } from 'node:buffer';
import { cpus } from 'node:os';
import { JsCodec } from '../src/codec/js-codec.js';
import { createWasmCodec } from '../src/codec/wasm-codec.js';
import { UTF8_ACCEPT } from '../src/codec/codec.js';

/** Seconds of sampling per case: 36 cases stay well under a minute. */
const MAX_TIME = 0.7;
const SIZES: readonly [string, number][] = [['16 B', 16], ['1 KiB', 1024], ['64 KiB', 65536]];
const MASK_KEY = 0x3d21fa37;

interface Result { size: string; name: string; bytes: number; hz: number; rme: number }

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Runs one case synchronously; hz is 1 / the median seconds per call over benchmark's samples. */
function measure(size: string, name: string, bytes: number, fn: () => void): Result {
  const bench = new Benchmark(`${name} ${size}`, fn, { maxTime: MAX_TIME, minSamples: 5 });
  bench.run();
  if (bench.error) throw bench.error;
  return { size, name, bytes, hz: 1 / median(bench.stats.sample), rme: bench.stats.rme };
}

function table(title: string, results: readonly Result[], baseline: string): string {
  const lines = [
    `### ${title}`, '',
    '| size | implementation | MB/s | ns/call | ±rme | × baseline |',
    '|---:|---|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const base = results.find((b) => b.size === r.size && b.name === baseline)!;
    lines.push(`| ${r.size} | ${r.name} | ${((r.bytes * r.hz) / 1e6).toFixed(0)} | ${(1e9 / r.hz).toFixed(1)} | ${r.rme.toFixed(1)}% | ${(r.hz / base.hz).toFixed(2)} |`);
  }
  return lines.join('\n');
}

/** About `length` bytes of text, 3 in 4 characters ASCII, the rest 2-, 3- and 4-byte characters. */
function mixedText(length: number): Uint8Array {
  const pieces = ['hello ', 'wörld ', 'naïve ', '€ ', '✓ ', '😀 ', 'plain ascii ', 'ünïcödé '];
  let text = '';
  for (let i = 0; Buffer.byteLength(text) < length; i++) text += pieces[(i * 7) % pieces.length];
  const bytes = Buffer.from(text);
  let end = length; // cut on a character boundary, pad with spaces
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  const out = new Uint8Array(length).fill(0x20);
  out.set(bytes.subarray(0, end));
  return out;
}

const js = new JsCodec();
const wasm = createWasmCodec();
let sink = 0; // keeps results observable so nothing is optimized away

const maskResults: Result[] = [];
for (const [size, n] of SIZES) {
  const data = new Uint8Array(n).map((_, i) => (i * 31) & 0xff);
  const plain = data.slice();
  const inMemory = wasm.load(null, data);
  maskResults.push(measure(size, 'JsCodec.mask (baseline)', n, () => { sink ^= js.mask(plain, 0, n, MASK_KEY, 1); }));
  maskResults.push(measure(size, 'WASM, bytes in linear memory', n, () => { sink ^= wasm.mask(inMemory, 0, n, MASK_KEY, 1); }));
  maskResults.push(measure(size, 'WASM + copy in (load)', n, () => {
    const work = wasm.load(null, data);
    sink ^= wasm.mask(work, 0, n, MASK_KEY, 1);
  }));
  maskResults.push(measure(size, 'WASM + copy in and out', n, () => { sink ^= wasm.mask(plain, 0, n, MASK_KEY, 1); }));
}

const utf8Results: Result[] = [];
for (const [label, make] of [['ASCII', (n: number) => new Uint8Array(n).fill(0x61)], ['mixed', mixedText]] as const) {
  for (const [size, n] of SIZES) {
    const text = make(n);
    if (!isUtf8(text)) throw new Error(`benchmark input ${label} ${size} is not valid UTF-8`);
    const inMemory = wasm.load(null, text);
    const name = (impl: string) => `${impl}, ${label}`;
    utf8Results.push(measure(size, name('JsCodec.validateUtf8 (baseline)'), n, () => { sink ^= js.validateUtf8(text, 0, n, UTF8_ACCEPT); }));
    utf8Results.push(measure(size, name('WASM, bytes in linear memory'), n, () => { sink ^= wasm.validateUtf8(inMemory, 0, n, UTF8_ACCEPT); }));
    utf8Results.push(measure(size, name('WASM + copy in'), n, () => { sink ^= wasm.validateUtf8(text, 0, n, UTF8_ACCEPT); }));
    utf8Results.push(measure(size, name('buffer.isUtf8 (reference)'), n, () => { sink ^= isUtf8(text) ? 1 : 0; }));
  }
}

console.log(`Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, maxTime ${MAX_TIME} s per case, MB = 10^6 bytes\n`);
console.log(table('Unmask (RFC 6455 §5.3), key phase 1', maskResults, 'JsCodec.mask (baseline)'));
console.log();
console.log(table('UTF-8 validation, ASCII', utf8Results.filter((r) => r.name.endsWith('ASCII')), 'JsCodec.validateUtf8 (baseline), ASCII'));
console.log();
console.log(table('UTF-8 validation, mixed text', utf8Results.filter((r) => r.name.endsWith('mixed')), 'JsCodec.validateUtf8 (baseline), mixed'));
if (sink === 0x7fffffff) console.log(''); // unreachable in practice; reads sink
