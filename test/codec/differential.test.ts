/**
 * JsCodec (the reference) and WasmCodec must produce identical records, unmasked payload
 * bytes and scan state for any client byte stream cut into any chunks; both must match the
 * RFC 6455 examples, an independent frame encoder and Node's buffer.isUtf8.
 */
import test from 'ava';
import { isUtf8 } from 'node:buffer';
import {
  FrameCodec, RECORD_CAPACITY, RECORD_WORDS, S_CONSUMED, RF_FIN, RF_MASKED, RF_NEW_HEADER,
  UTF8_ACCEPT, MAX_HEADER_BYTES, SF_CALLER_VALIDATES_UTF8, RF_UTF8_INVALID,
} from '../../src/codec/codec.js';
import { lengthMsbSet, recordCount, recordFlags, segmentLength, segmentStart } from '../../src/codec/record.js';
import { JsCodec } from '../../src/codec/js-codec.js';
import { createWasmCodec, WasmCodec } from '../../src/codec/wasm-codec.js';
import { createCodec } from '../../src/codec/select.js';
import {
  Prng, FrameStream, Trace, randomStream, hugeFrameStream, drive, firstDifference, checkAgainstFrames,
  encodeFrame, concatBytes, randomText, randomMaybeInvalidText, INVALID_SEQUENCES,
} from './frame-streams.js';

const js = new JsCodec();
const wasm = createWasmCodec();
const codecs: readonly FrameCodec[] = [js, wasm];

/** Drives both codecs with the same cuts; returns a failure description or null. */
function compareAt(stream: FrameStream, cuts: readonly number[], copyPending = false): string | null {
  const expected: Trace = drive(js, stream.bytes, cuts);
  const actual: Trace = drive(wasm, stream.bytes, cuts, copyPending);
  const difference = firstDifference(expected, actual);
  if (difference !== null) return `cuts [${cuts.length > 12 ? `${cuts.slice(0, 12)}…` : cuts}]: ${difference}`;
  if (!stream.truncated) {
    const wrong = checkAgainstFrames(expected, stream.frames);
    if (wrong !== null) return `cuts [${cuts.slice(0, 12)}]: ${wrong}`;
  }
  return null;
}

/** Random ascending cut points: many small chunks, a few large ones. */
function randomCuts(rng: Prng, length: number): number[] {
  const cuts: number[] = [];
  for (let at = 0; ;) {
    at += rng.chance(0.5) ? rng.int(20) : rng.int(3000);
    if (at >= length) return cuts;
    cuts.push(at);
  }
}

function failuresSummary(failures: string[]): string[] {
  return failures.slice(0, 5);
}

test('random frame streams: codecs agree when split into two chunks at every byte boundary', (t) => {
  const rng = new Prng(0x5eed_0001);
  const failures: string[] = [];
  let splits = 0;
  for (let s = 0; s < 150; s++) {
    const stream = randomStream(rng, { allowLarge: false, truncate: s % 3 === 2 });
    if (stream.bytes.length > 4000) continue;
    for (let k = 0; k <= stream.bytes.length; k++, splits++) {
      const failure = compareAt(stream, [k]);
      if (failure !== null) failures.push(`stream ${s}: ${failure}`);
    }
  }
  t.true(splits > 20_000, `only ${splits} splits`);
  t.deepEqual(failuresSummary(failures), []);
});

test('random frame streams with 64 KiB frames: codecs agree at sampled two-chunk splits', (t) => {
  const rng = new Prng(0x5eed_0002);
  const failures: string[] = [];
  for (let s = 0; s < 12; s++) {
    const stream = randomStream(rng, { allowLarge: true, truncate: s % 3 === 2, maxFrames: 4 });
    const n = stream.bytes.length;
    const ks = new Set<number>();
    for (let k = 0; k <= Math.min(n, 200); k++) ks.add(k);
    for (let k = Math.max(0, n - 200); k <= n; k++) ks.add(k);
    for (let i = 0; i < 300; i++) ks.add(rng.int(n + 1));
    for (const k of ks) {
      const failure = compareAt(stream, [k]);
      if (failure !== null) failures.push(`stream ${s}: ${failure}`);
    }
  }
  t.deepEqual(failuresSummary(failures), []);
});

test('random frame streams: codecs agree when split at random points into many chunks', (t) => {
  const rng = new Prng(0x5eed_0003);
  const failures: string[] = [];
  for (let s = 0; s < 300; s++) {
    const stream = randomStream(rng, { allowLarge: s % 4 === 0, truncate: s % 2 === 1 });
    for (let i = 0; i < 20; i++) {
      // Half the runs hand WasmCodec a copied pending (bytes outside linear memory).
      const failure = compareAt(stream, randomCuts(rng, stream.bytes.length), i % 2 === 1);
      if (failure !== null) failures.push(`stream ${s}: ${failure}`);
    }
  }
  t.deepEqual(failuresSummary(failures), []);
});

test('with SF_CALLER_VALIDATES_UTF8 the codecs agree and leave UTF-8 to the caller', (t) => {
  const rng = new Prng(0x5eed_0007);
  const failures: string[] = [];
  for (let s = 0; s < 150; s++) {
    const stream = randomStream(rng, { allowLarge: false, truncate: s % 3 === 1 });
    const cuts = randomCuts(rng, stream.bytes.length);
    const expected = drive(js, stream.bytes, cuts, false, SF_CALLER_VALIDATES_UTF8);
    const actual = drive(wasm, stream.bytes, cuts, false, SF_CALLER_VALIDATES_UTF8);
    const difference = firstDifference(expected, actual);
    if (difference !== null) failures.push(`stream ${s}: ${difference}`);
    if (expected.records.some((word, i) => i % RECORD_WORDS === 0 && (word & RF_UTF8_INVALID) !== 0)) {
      failures.push(`stream ${s}: a record flags UTF-8 although the caller validates it`);
    }
  }
  t.deepEqual(failuresSummary(failures), []);
});

test('small frame streams: codecs agree when fed byte by byte', (t) => {
  const rng = new Prng(0x5eed_0004);
  const failures: string[] = [];
  let streams = 0;
  for (let s = 0; s < 400 && streams < 250; s++) {
    const stream = randomStream(rng, { allowLarge: false, truncate: s % 2 === 1 });
    if (stream.bytes.length > 2000) continue;
    streams++;
    const cuts = Array.from({ length: stream.bytes.length }, (_, i) => i + 1);
    const failure = compareAt(stream, cuts);
    if (failure !== null) failures.push(`stream ${s}: ${failure}`);
  }
  t.true(streams >= 200);
  t.deepEqual(failuresSummary(failures), []);
});

test('64-bit lengths beyond the bytes present, up to 2^64 - 2^32: codecs agree on records and state', (t) => {
  const rng = new Prng(0x5eed_0005);
  const failures: string[] = [];
  let msbSet = 0;
  for (let s = 0; s < 200; s++) {
    const stream = hugeFrameStream(rng);
    for (const cuts of [[], randomCuts(rng, stream.bytes.length), [rng.int(stream.bytes.length + 1)]]) {
      const failure = compareAt(stream, cuts);
      if (failure !== null) failures.push(`stream ${s}: ${failure}`);
    }
    const trace = drive(wasm, stream.bytes, []);
    const records = Int32Array.from(trace.records);
    if (Array.from({ length: recordCount(records) }, (_, i) => lengthMsbSet(records, i)).includes(true)) msbSet++;
  }
  t.true(msbSet > 0, 'some streams set the 64-bit length MSB (RFC 6455 §5.2)');
  t.deepEqual(failuresSummary(failures), []);
});

test('more than RECORD_CAPACITY frames in one chunk: scan resumes from S_CONSUMED with the same records', (t) => {
  const rng = new Prng(0x5eed_0006);
  const frames = Array.from({ length: 3 * RECORD_CAPACITY + 17 }, (_, i) => ({
    opcode: i % 7 === 3 ? 9 : 2, fin: true, rsv: 0, maskKey: rng.next(), payload: rng.bytes(rng.int(4)),
  }));
  const stream = { bytes: concatBytes(frames.map(encodeFrame)), frames, truncated: false };
  for (const cuts of [[], [stream.bytes.length >> 1], randomCuts(rng, stream.bytes.length)]) {
    t.is(compareAt(stream, cuts), null);
  }
  for (const codec of codecs) {
    const state = codec.createState();
    const work = codec.load(null, stream.bytes.slice());
    t.is(codec.scan(state, work, 0), RECORD_CAPACITY, codec.kind);
    t.true(state[S_CONSUMED] > 0 && state[S_CONSUMED] < work.length, codec.kind);
  }
});

test('RFC 6455 §5.7 examples scan to the expected records and payloads on both codecs', (t) => {
  const hello = [0x48, 0x65, 0x6c, 0x6c, 0x6f];
  const examples: { bytes: number[]; flags: number[]; payloads: number[][] }[] = [
    { bytes: [0x81, 0x05, ...hello], flags: [0x81], payloads: [hello] },
    { bytes: [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58], flags: [0x81 | RF_MASKED], payloads: [hello] },
    { bytes: [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f], flags: [0x01, 0x80], payloads: [[0x48, 0x65, 0x6c], [0x6c, 0x6f]] },
    { bytes: [0x89, 0x05, ...hello], flags: [0x89], payloads: [hello] },
    { bytes: [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58], flags: [0x8a | RF_MASKED], payloads: [hello] },
  ];
  for (const codec of codecs) {
    for (const example of examples) {
      const state = codec.createState();
      const work = codec.load(null, Uint8Array.from(example.bytes));
      const count = codec.scan(state, work, 0);
      const records = codec.records.slice(0, count * RECORD_WORDS);
      t.deepEqual(
        example.flags.map((_, i) => recordFlags(records, i)),
        example.flags.map((f) => f | RF_NEW_HEADER), `${codec.kind} flags`,
      );
      t.deepEqual(
        example.flags.map((_, i) => Array.from(work.subarray(segmentStart(records, i), segmentStart(records, i) + segmentLength(records, i)))),
        example.payloads, `${codec.kind} payloads`,
      );
      t.is(state[S_CONSUMED], example.bytes.length);
    }
    // 256 bytes and 64 KiB binary messages in a single unmasked frame (RFC 6455 §5.7).
    for (const [length, header] of [[256, [0x82, 0x7e, 0x01, 0x00]], [65536, [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]]] as const) {
      const state = codec.createState();
      const work = codec.load(null, concatBytes([Uint8Array.from(header), new Uint8Array(length)]));
      t.is(codec.scan(state, work, 0), 1);
      t.deepEqual(Array.from(codec.records.subarray(0, RECORD_WORDS)), [0x82 | RF_NEW_HEADER, length, 0, 0, header.length, length, 1, 0]);
    }
  }
});

function maskReference(data: Uint8Array, key: number, phase: number): Uint8Array {
  return data.map((byte, i) => byte ^ ((key >>> (((phase + i) & 3) * 8)) & 0xff));
}

test('mask: RFC 6455 §5.7 masked "Hello" unmasks on both codecs, from every phase split', (t) => {
  const key = 0x3d21fa37; // wire bytes 37 fa 21 3d, little-endian
  const masked = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
  for (const codec of codecs) {
    for (let split = 0; split <= masked.length; split++) {
      const data = Uint8Array.from(masked);
      const phase = codec.mask(data, 0, split, key, 0);
      t.is(phase, split & 3);
      t.is(codec.mask(data, split, masked.length - split, key, phase), masked.length & 3);
      t.is(Buffer.from(data).toString('latin1'), 'Hello', `${codec.kind} split ${split}`);
    }
  }
});

test('mask: every phase, lengths 0..70 and alignments agree between codecs, with a reference, and twice is identity', (t) => {
  const rng = new Prng(0x5eed_0007);
  let mismatches = 0;
  for (let length = 0; length <= 70; length++) {
    for (let phase = 0; phase < 4; phase++) {
      for (let offset = 0; offset < 17; offset += rng.int(4) + 1) {
        const key = rng.next();
        const original = rng.bytes(offset + length + 3);
        const expected = concatBytes([original.subarray(0, offset), maskReference(original.subarray(offset, offset + length), key, phase), original.subarray(offset + length)]);
        // WASM twice: on bytes outside linear memory, and on bytes already there (a load() view).
        const targets = [original.slice(), original.slice(), wasm.load(null, original)];
        const phases = [js.mask(targets[0], offset, length, key, phase), wasm.mask(targets[1], offset, length, key, phase), wasm.mask(targets[2], offset, length, key, phase)];
        for (let i = 0; i < 3; i++) {
          if (phases[i] !== ((phase + length) & 3) || Buffer.compare(targets[i], expected) !== 0) mismatches++;
          codecs[i === 0 ? 0 : 1].mask(targets[i], offset, length, key, phase);
          if (Buffer.compare(targets[i], original) !== 0) mismatches++;
        }
      }
    }
  }
  t.is(mismatches, 0);
});

test('mask: buffers larger than the copy scratch and linear memory keep the phase across parts', (t) => {
  const rng = new Prng(0x5eed_0008);
  for (const length of [32 * 1024 + 3, 100_001, 300_000]) {
    const data = rng.bytes(length);
    const key = rng.next();
    const expected = maskReference(data.subarray(7), key, 3);
    const viaJs = data.slice(), viaWasm = data.slice();
    t.is(js.mask(viaJs, 7, length - 7, key, 3), wasm.mask(viaWasm, 7, length - 7, key, 3));
    t.is(Buffer.compare(viaJs.subarray(7), expected), 0);
    t.is(Buffer.compare(viaWasm.subarray(7), expected), 0);
    t.is(Buffer.compare(viaWasm.subarray(0, 7), data.subarray(0, 7)), 0);
  }
});

const UTF8_EDGE_CASES: readonly number[][] = [
  [], [0x00], [0x7f], [0xc2, 0x80], [0xdf, 0xbf], [0xe0, 0xa0, 0x80], [0xef, 0xbf, 0xbf],
  [0xf0, 0x90, 0x80, 0x80], [0xf4, 0x8f, 0xbf, 0xbf], [0xed, 0x9f, 0xbf], [0xee, 0x80, 0x80],
  ...INVALID_SEQUENCES,
  [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xf0, 0x80, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xed, 0xb0, 0x80],
  [0xf4, 0x90], [0xf4, 0x90, 0x80, 0x80], [0xc2], [0xe0, 0xa0], [0xf0, 0x90, 0x80], [0xf1, 0x80, 0x80, 0x80],
  [0xc2, 0xc2, 0x80], [0x80, 0x80], [0xf7, 0xbf, 0xbf, 0xbf],
];

/** Both codecs, on bytes outside and inside WASM memory, at an odd offset; state must match isUtf8. */
function utf8Disagreements(bytes: Uint8Array): string[] {
  const expected = isUtf8(bytes);
  const padded = concatBytes([Uint8Array.of(0x41, 0x42, 0x43), bytes, Uint8Array.of(0x80)]);
  const results = [
    js.validateUtf8(padded, 3, bytes.length, UTF8_ACCEPT),
    wasm.validateUtf8(padded, 3, bytes.length, UTF8_ACCEPT),
    wasm.validateUtf8(wasm.load(null, padded), 3, bytes.length, UTF8_ACCEPT),
  ];
  const wrong: string[] = [];
  if (results[0] !== results[1] || results[0] !== results[2]) wrong.push(`[${Array.from(bytes, (b) => b.toString(16))}]: states ${results}`);
  if ((results[0] === UTF8_ACCEPT) !== expected) wrong.push(`[${Array.from(bytes, (b) => b.toString(16))}]: isUtf8 ${expected}, state ${results[0]}`);
  return wrong;
}

test('validateUtf8 agrees with buffer.isUtf8 on overlongs, surrogates, > U+10FFFF and truncated sequences', (t) => {
  const wrong: string[] = [];
  for (const bytes of UTF8_EDGE_CASES) {
    for (const prefix of [[], [0x61], Array.from({ length: 21 }, () => 0x61)]) {
      wrong.push(...utf8Disagreements(Uint8Array.from([...prefix, ...bytes])));
      wrong.push(...utf8Disagreements(Uint8Array.from([...prefix, ...bytes, 0x61, 0x62])));
    }
  }
  t.deepEqual(wrong.slice(0, 5), []);
});

test('validateUtf8 agrees with buffer.isUtf8 on random inputs, whole and streamed across every split', (t) => {
  const rng = new Prng(0x5eed_0009);
  const wrong: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const kind = i % 3;
    const bytes = kind === 0 ? rng.bytes(rng.int(40)) : kind === 1 ? randomMaybeInvalidText(rng, rng.int(200), 0.5) : randomText(rng, rng.int(100));
    wrong.push(...utf8Disagreements(bytes));
    if (i % 10 === 0) {
      const whole = js.validateUtf8(bytes, 0, bytes.length, UTF8_ACCEPT);
      for (let k = 0; k <= bytes.length; k++) {
        for (const codec of codecs) {
          const state = codec.validateUtf8(bytes, k, bytes.length - k, codec.validateUtf8(bytes, 0, k, UTF8_ACCEPT));
          if (state !== whole) wrong.push(`${codec.kind} split ${k}: ${state} vs ${whole}`);
        }
      }
    }
  }
  // Long ASCII runs around the 8- and 16-byte fast paths, with one bad byte at every position.
  for (let length = 0; length < 70; length++) {
    const ascii = new Uint8Array(length).fill(0x61);
    wrong.push(...utf8Disagreements(ascii));
    for (let at = 0; at < length; at++) {
      const bad = ascii.slice();
      bad[at] = 0xe9;
      wrong.push(...utf8Disagreements(bad));
    }
  }
  t.deepEqual(wrong.slice(0, 5), []);
});

test('writeHeader: 7/16/64-bit lengths with and without mask, equal between codecs and to the expected bytes', (t) => {
  const key = 0x3d21fa37;
  const cases: [number, number[]][] = [
    [0, [0x00]], [125, [0x7d]], [126, [0x7e, 0x00, 0x7e]], [65535, [0x7e, 0xff, 0xff]],
    [65536, [0x7f, 0, 0, 0, 0, 0, 1, 0, 0]], [2 ** 32 + 5, [0x7f, 0, 0, 0, 1, 0, 0, 0, 5]],
  ];
  for (const codec of codecs) {
    for (const [length, lengthBytes] of cases) {
      for (const masked of [false, true]) {
        for (const [opcode, fin] of [[1, true], [0, false], [9, true]] as const) {
          const target = new Uint8Array(MAX_HEADER_BYTES + 3).fill(0xee);
          const size = codec.writeHeader(target, 3, opcode, fin, length, masked ? key : undefined);
          const expected = [(fin ? RF_FIN : 0) | opcode, ...lengthBytes, ...(masked ? [0x37, 0xfa, 0x21, 0x3d] : [])];
          if (masked) expected[1] |= 0x80;
          t.deepEqual(Array.from(target.subarray(3, 3 + size)), expected, `${codec.kind} length ${length} masked ${masked}`);
          t.is(target[2], 0xee);
        }
      }
    }
  }
});

test('WasmCodec.load keeps pending bytes from linear memory across memory growth', (t) => {
  const codec = createWasmCodec();
  const header = encodeFrame({ opcode: 2, fin: true, rsv: 0, maskKey: 0x01020304, payload: new Uint8Array(300_000).fill(7) });
  const first = codec.load(null, header.subarray(0, 5)); // a partial header: nothing consumed
  const state = codec.createState();
  t.is(codec.scan(state, first, 0), 0);
  const work = codec.load(first.subarray(state[S_CONSUMED]), header.subarray(5)); // grows memory
  t.is(work.length, header.length);
  t.is(codec.scan(state, work, 0), 1);
  t.deepEqual(Array.from(codec.records.subarray(0, RECORD_WORDS)), [0x82 | RF_MASKED | RF_NEW_HEADER, 300_000, 0, 0x01020304, 14, 300_000, 1, 0]);
  t.true(work.subarray(14).every((b) => b === 7));
});

test('WasmCodec.load accepts a chunk already in place after the pending bytes without copying it', (t) => {
  const codec = createWasmCodec();
  const frame = encodeFrame({ opcode: 1, fin: true, rsv: 0, maskKey: 0xa1b2c3d4, payload: Buffer.from('héllo wörld') });
  const first = codec.load(null, frame.subarray(0, 3));
  const state = codec.createState();
  codec.scan(state, first, 0);
  const pending = first.subarray(state[S_CONSUMED]);
  // Simulate a socket read straight into linear memory, right after where pending will go.
  const slot = new Uint8Array(first.buffer, first.byteOffset + pending.length, frame.length - 3);
  slot.set(frame.subarray(3));
  const work = codec.load(pending, slot);
  t.is(work.byteOffset, first.byteOffset);
  t.is(codec.scan(state, work, 0), 1);
  t.is(Buffer.from(work.subarray(6)).toString(), 'héllo wörld');
  // A chunk that is in linear memory but elsewhere (here: inside the last work buffer) is moved.
  const again = codec.load(Uint8Array.of(0x81), work.subarray(2, 4));
  t.deepEqual(Array.from(again), [0x81, frame[2], frame[3]]);
});

test('WasmCodec refuses work buffers outside WASM memory and out-of-range views; createCodec picks the implementation', (t) => {
  const codec: WasmCodec = createWasmCodec();
  t.throws(() => codec.scan(codec.createState(), new Uint8Array(4), 0), { instanceOf: TypeError });
  t.throws(() => codec.mask(codec.load(null, new Uint8Array(4)), 2, 3, 0, 0), { instanceOf: RangeError });
  t.throws(() => codec.validateUtf8(new Uint8Array(4), -1, 2, UTF8_ACCEPT), { instanceOf: RangeError });
  t.is(createCodec('js').kind, 'js');
  t.is(createCodec('wasm').kind, 'wasm');
  t.true(createCodec('wasm').payloadIsBorrowed);
  t.false(createCodec('js').payloadIsBorrowed);
});
