/** wasmsocket's WebAssembly framing core: exports only (see frame.ts, mask.ts, utf8.ts). */
export { scan, writeHeader, stateOffset, recordsOffset, headerOffset, heapBase } from './frame';
// Every layout constant, as an immutable global: the host checks each against its own at load.
export * from '../src/codec/layout';
export { mask } from './mask';
export { validateUtf8 } from './utf8';
