import test from 'ava';
import { MessageAssembly } from '../../src/protocol/message-assembly.js';

test('a message reserved for once gets a buffer of its exact size', (t) => {
  const assembly = new MessageAssembly(1 << 20);
  assembly.reserve(5);
  t.is(assembly.capacity, 5);
  assembly.append(Buffer.from('he'));
  assembly.append(Buffer.from('llo'));
  const message = assembly.take();
  t.is(message.toString(), 'hello');
  t.is(message.length, 5);
  t.is(assembly.capacity, 0);
  t.is(assembly.length, 0);
});

test('one-byte appends grow the buffer by doubling: capacity stays within twice the bytes', (t) => {
  const assembly = new MessageAssembly(1 << 20);
  const expected = Buffer.alloc(100_000);
  let reallocations = 0;
  for (let i = 0; i < expected.length; i++) {
    expected[i] = i & 0xff;
    const capacity = assembly.capacity;
    assembly.reserve(1);
    assembly.append(expected.subarray(i, i + 1));
    if (assembly.capacity !== capacity) reallocations++;
    t.true(assembly.capacity <= 2 * assembly.length, `capacity ${assembly.capacity} for ${assembly.length} bytes`);
  }
  // Doubling from 1: log2(100 000) reallocations, not one per byte.
  t.is(reallocations, 18);
  t.true(assembly.take().equals(expected));
});

test('growth never passes the limit, and a part larger than the reservation still fits', (t) => {
  const assembly = new MessageAssembly(1000);
  assembly.reserve(600);
  assembly.append(Buffer.alloc(600, 1));
  assembly.append(Buffer.alloc(400, 2)); // no reservation: doubling is capped at the limit
  const message = assembly.take();
  t.is(message.length, 1000);
  t.is(message[599], 1);
  t.is(message[600], 2);
});

test('appended parts are copied: the caller may overwrite them at once', (t) => {
  const assembly = new MessageAssembly(64);
  const part = Buffer.from('abc');
  assembly.append(part);
  part.fill(0);
  t.is(assembly.take().toString(), 'abc');
});

test('an empty message, and clear(), leave an empty buffer', (t) => {
  const assembly = new MessageAssembly(64);
  t.is(assembly.take().length, 0);
  assembly.append(Buffer.from('x'));
  assembly.clear();
  t.is(assembly.length, 0);
  t.is(assembly.take().length, 0);
});

test('a range of its source is copied, short and long alike, and the source may be overwritten at once', (t) => {
  const assembly = new MessageAssembly(1 << 20);
  const source = Buffer.alloc(1000);
  for (let i = 0; i < source.length; i++) source[i] = i & 0xff;
  const ranges: Array<[number, number]> = [[3, 1], [10, 63], [100, 64], [200, 700], [0, 0], [999, 1]];
  for (const [start, length] of ranges) assembly.append(source, start, length);
  const expected = Buffer.concat(ranges.map(([start, length]) => Buffer.from(source.subarray(start, start + length))));
  source.fill(0);
  t.true(assembly.take().equals(expected));
});

test('a large buffer grows without keeping the one it grew from: its memory is freed at once, not at the next GC', (t) => {
  const assembly = new MessageAssembly(16 << 20);
  const part = Buffer.alloc(4 << 20);
  for (let i = 0; i < part.length; i++) part[i] = (i * 13) & 0xff;
  assembly.reserve(part.length);
  assembly.append(part);
  const before = process.memoryUsage().arrayBuffers;
  assembly.append(part, 0, 1); // doubles to 8 MiB
  const grown = process.memoryUsage().arrayBuffers - before;
  t.is(assembly.capacity, 8 << 20);
  // 8 MiB allocated, 4 MiB freed: a copy would leave the 4 MiB buffer alive beside the new one.
  t.true(grown <= (4 << 20) + (1 << 20), `ArrayBuffer memory grew ${grown} bytes`);
  t.true(assembly.take().equals(Buffer.concat([part, part.subarray(0, 1)])));
});
