/** Every test that touches framing runs once per codec: the two must behave the same. */
import type { CodecKind } from '../../src/codec/codec.js';

export const CODEC_KINDS: readonly CodecKind[] = ['wasm', 'js'];
