/** wasmsocket's WebAssembly framing core: exports only (see frame.ts, mask.ts, utf8.ts). */
export { scan, writeHeader, stateOffset, recordsOffset, headerOffset, heapBase, recordCapacity } from './frame';
export { mask } from './mask';
export { validateUtf8 } from './utf8';
