import test from 'ava';
import { DataFrameReader, HEAD_BYTES, type DataFrameHandler } from '../../src/load/data-frame-reader.js';

interface Seen { length: number; isBinary: boolean; head: string; bodyMatches: boolean; split: boolean }

/** An unmasked server frame (RFC 6455 §5.2) with any first byte. */
function serverFrame(firstByte: number, payload: Buffer): Buffer {
  const length = payload.length;
  const header = length < 126 ? Buffer.from([firstByte, length])
    : length < 65536 ? Buffer.from([firstByte, 126, length >> 8, length & 255])
      : Buffer.concat([Buffer.from([firstByte, 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(length)); return b; })()]);
  return Buffer.concat([header, payload]);
}

function recorder(expected: Buffer): { seen: Seen[]; handler: DataFrameHandler<string> } {
  const seen: Seen[] = [];
  return {
    seen,
    handler: {
      frame: (_conn, bytes, start, length, isBinary) => seen.push({
        length, isBinary, head: bytes.subarray(start, start + Math.min(length, HEAD_BYTES)).toString('latin1'),
        bodyMatches: length <= HEAD_BYTES || bytes.subarray(start + HEAD_BYTES, start + length).equals(expected.subarray(HEAD_BYTES, length)), split: false,
      }),
      splitFrame: (_conn, head, length, isBinary, bodyMatches) => seen.push({ length, isBinary, head: head.toString('latin1'), bodyMatches, split: true }),
    },
  };
}

/** Feeds `stream` in pieces cut at `cuts`, copying each into one reused buffer as a socket read would. */
function feed(reader: DataFrameReader<string>, stream: Buffer, cuts: number[]): Buffer | undefined {
  const readBuffer = Buffer.alloc(stream.length);
  let from = 0;
  for (const to of [...cuts, stream.length]) {
    if (to <= from) continue;
    stream.copy(readBuffer, 0, from, to);
    const rest = reader.read(readBuffer.subarray(0, to - from));
    if (rest !== undefined) return Buffer.concat([Buffer.from(rest), stream.subarray(to)]);
    readBuffer.fill(0xee); // what a later read writes over: nothing may depend on the old bytes
    from = to;
  }
  return undefined;
}

const expected = Buffer.from('0123456789abcdef' + 'x'.repeat(70_000), 'latin1');
const sizes = [0, 5, 16, 20, 125, 126, 300, 65_535, 65_536, 70_016];
const stream = Buffer.concat(sizes.map((size, i) => serverFrame(i % 2 === 0 ? 0x81 : 0x82, expected.subarray(0, size))));

test('data frames are counted whole or split anywhere: lengths, types, heads and body comparison', (t) => {
  const cutSets = [[], [1], [3, 4, 5], Array.from({ length: 300 }, (_, i) => i * 457), Array.from({ length: 60 }, (_, i) => i * 3001 + 2)];
  for (const cuts of cutSets) {
    const { seen, handler } = recorder(expected);
    t.is(feed(new DataFrameReader('c', handler, expected, 1 << 30), stream, cuts), undefined);
    t.deepEqual(seen.map((s) => [s.length, s.isBinary, s.bodyMatches, s.head]),
      sizes.map((size, i) => [size, i % 2 === 1, true, expected.subarray(0, Math.min(size, HEAD_BYTES)).toString('latin1')]), `cuts ${cuts.length}`);
  }
  // Every cut position over the small frames, one at a time.
  for (let cut = 1; cut < 700; cut++) {
    const { seen, handler } = recorder(expected);
    t.is(feed(new DataFrameReader('c', handler, expected, 1 << 30), stream.subarray(0, 700), [cut]), undefined);
    t.deepEqual(seen.map((s) => s.length), sizes.slice(0, 7), `cut at ${cut}`);
    t.true(seen.every((s) => s.bodyMatches), `cut at ${cut}`);
  }
});

test('a split frame whose body differs by one byte past the head is reported as not matching', (t) => {
  const changed = Buffer.from(expected.subarray(0, 70_000));
  changed[50_000] ^= 1;
  const { seen, handler } = recorder(expected);
  feed(new DataFrameReader('c', handler, expected, 1 << 30), serverFrame(0x82, changed), [30_000]);
  t.deepEqual(seen.map((s) => [s.split, s.bodyMatches]), [[true, false]]);
});

test('a frame the reader does not take is handed on from its first header byte, with all after it', (t) => {
  const ping = serverFrame(0x89, Buffer.from('hi'));
  const fragment = serverFrame(0x01, Buffer.from('part'));
  const masked = Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]);
  const rsv = serverFrame(0xc1, Buffer.from('x'));
  const before = serverFrame(0x81, expected.subarray(0, 20));
  for (const odd of [ping, fragment, masked, rsv]) {
    const after = serverFrame(0x82, expected.subarray(0, 30));
    const whole = Buffer.concat([before, odd, after]);
    // Cut inside the odd frame's header too: a header kept over reads comes back whole.
    for (const cuts of [[], [before.length + 1], [before.length - 3, before.length + 1]]) {
      const { seen, handler } = recorder(expected);
      const rest = feed(new DataFrameReader('c', handler, expected, 1 << 30), whole, cuts);
      t.deepEqual(rest, Buffer.concat([odd, after]), `first byte ${odd[0]} cuts ${cuts.join(',')}`);
      t.is(seen.length, 1);
    }
  }
});

test('after handOver the next frame goes to the protocol; a length past the limit too', (t) => {
  const { seen, handler } = recorder(expected);
  const reader = new DataFrameReader('c', handler, expected, 1000);
  const small = serverFrame(0x81, expected.subarray(0, 20));
  t.is(reader.read(Buffer.from(small)), undefined);
  const big = serverFrame(0x82, expected.subarray(0, 2000));
  t.deepEqual(reader.read(Buffer.from(big)), big);
  const other = new DataFrameReader('c', handler, expected, 1 << 30);
  other.handOver();
  t.deepEqual(other.read(Buffer.from(small)), small);
  t.is(seen.length, 1);
});
