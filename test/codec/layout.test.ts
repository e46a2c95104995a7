import test from 'ava';
import { readFileSync } from 'node:fs';
import * as layout from '../../src/codec/layout.js';
import { checkLayout } from '../../src/codec/wasm-codec.js';

/** The exports of the real build/wasmsocket.wasm. */
function moduleExports(): Record<string, unknown> {
  const wasm = (globalThis as unknown as { WebAssembly: { Module: new (b: Uint8Array) => object; Instance: new (m: object, i: object) => { exports: Record<string, unknown> } } }).WebAssembly;
  const bytes = readFileSync(new URL('../../../build/wasmsocket.wasm', import.meta.url));
  return new wasm.Instance(new wasm.Module(bytes), {}).exports;
}

test('the WASM module exports every layout constant with the value the TypeScript side compiled', (t) => {
  const exports = moduleExports();
  const names = Object.keys(layout);
  t.true(names.length >= 30, 'state words, record words, flag bits, UTF-8 states, capacities');
  for (const name of names) {
    t.is((exports[name] as { value: number }).value, (layout as Record<string, number>)[name], name);
  }
  t.notThrows(() => checkLayout(exports));
});

test('a module built from another layout is refused at load, naming the constant', (t) => {
  const exports = moduleExports();
  const stale = { ...exports, R_SEGMENT_LENGTH: { value: layout.R_SEGMENT_LENGTH + 1 } };
  const error = t.throws(() => checkLayout(stale), { instanceOf: RangeError });
  t.regex(error!.message, /R_SEGMENT_LENGTH is 6 there, 5 here; rebuild with npm run build:wasm/);
  const { RF_LENGTH_MSB_SET: _dropped, ...older } = exports;
  t.regex(t.throws(() => checkLayout(older))!.message, /RF_LENGTH_MSB_SET is missing there/);
});

test('the record area is whole records, and a record is padded to 32 bytes', (t) => {
  t.is(layout.RECORD_WORDS * 4, 32);
  t.is(layout.R_RESERVED, layout.RECORD_WORDS - 1);
  const words = [layout.R_FLAGS, layout.R_LENGTH_LO, layout.R_LENGTH_HI, layout.R_MASK_KEY, layout.R_SEGMENT_START,
    layout.R_SEGMENT_LENGTH, layout.R_FRAME_DONE, layout.R_RESERVED];
  t.deepEqual([...words].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7], 'each record word is used once');
});
