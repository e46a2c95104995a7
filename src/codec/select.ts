/** Picks the FrameCodec implementation by name ('wasm' by default in the server, 'js' as the reference). */
import { CodecKind, FrameCodec } from './codec.js';
import { JsCodec } from './js-codec.js';
import { createWasmCodec } from './wasm-codec.js';

/** A new codec of the given kind; 'wasm' loads build/wasmsocket.wasm synchronously. */
export function createCodec(kind: CodecKind): FrameCodec {
  switch (kind) {
    case 'js': return new JsCodec();
    case 'wasm': return createWasmCodec();
    default: throw new TypeError(`unknown codec kind: ${String(kind)} (expected 'wasm' or 'js')`);
  }
}
