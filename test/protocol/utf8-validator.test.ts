import test from 'ava';
import { isUtf8 } from 'node:buffer';
import { validateTextSegment, NATIVE_MIN_BYTES } from '../../src/protocol/utf8-validator.js';
import { validateUtf8Js } from '../../src/codec/codec.js';
import { UTF8_ACCEPT, UTF8_REJECT } from '../../src/codec/codec.js';

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SAMPLES = ['a', 'é', 'ß', '€', '✓', '한', '𝄞', '🎉', '\u{10FFFF}', '\uFFFF', ' '];
const INVALID = [[0xc0, 0x80], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xff], [0xe2, 0x82]];

function text(next: () => number, characters: number): Buffer {
  let s = '';
  for (let i = 0; i < characters; i++) s += SAMPLES[Math.floor(next() * SAMPLES.length)];
  return Buffer.from(s, 'utf8');
}

/** Folds segments through a validator, recording the state after each one. */
function states(validate: typeof validateTextSegment, data: Buffer, cuts: number[]): number[] {
  const out: number[] = [];
  let state = UTF8_ACCEPT;
  let start = 0;
  for (const end of [...cuts, data.length]) {
    state = validate(data, start, end - start, state);
    out.push(state);
    start = end;
  }
  return out;
}

test('per segment, the native choice reaches exactly the streaming validator\'s state', (t) => {
  const next = random(42);
  let checked = 0;
  for (let round = 0; round < 60; round++) {
    let data = text(next, 40 + Math.floor(next() * 120));
    if (round % 2 === 1) {
      const at = Math.floor(next() * data.length);
      data = Buffer.concat([data.subarray(0, at), Buffer.from(INVALID[round % INVALID.length]), data.subarray(at)]);
    }
    for (let cut = 1; cut < data.length; cut++) {
      const expected = states(validateUtf8Js, data, [cut]);
      t.deepEqual(states(validateTextSegment, data, [cut]), expected, `round ${round}, cut ${cut}`);
      checked++;
    }
    const final = states(validateTextSegment, data, []).at(-1);
    t.is(final === UTF8_ACCEPT, isUtf8(data));
  }
  t.true(checked > 5000);
});

test('an invalid byte fails the segment it arrives in, before the message ends', (t) => {
  const valid = Buffer.from('κόσμε '.repeat(30), 'utf8');
  t.true(valid.length > NATIVE_MIN_BYTES);
  const message = Buffer.concat([valid, Buffer.from([0xed, 0xa0, 0x80]), valid]);
  const [first, second] = states(validateTextSegment, message, [valid.length + 3]);
  t.is(first, UTF8_REJECT, 'the surrogate in the first segment is caught there');
  t.is(second, UTF8_REJECT);
});

test('a character cut by the end of a segment is finished by the next one', (t) => {
  const euro = Buffer.from('x'.repeat(100) + '€' + 'y'.repeat(100), 'utf8');
  for (const cut of [101, 102]) {
    const [first, second] = states(validateTextSegment, euro, [cut]);
    t.not(first, UTF8_ACCEPT, 'inside the character');
    t.not(first, UTF8_REJECT);
    t.is(second, UTF8_ACCEPT);
  }
});
