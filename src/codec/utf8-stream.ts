/**
 * The streaming UTF-8 validator in TypeScript: the twin of assembly/utf8.ts, used by JsCodec and
 * by the protocol for segments too short to be worth a call to `buffer.isUtf8`. The state
 * carries a character split across segments, frames and reads.
 */
import { UTF8_ACCEPT, UTF8_REJECT } from './layout.js';

/** One step of the streaming UTF-8 validator (RFC 3629 §4 well-formed sequences). */
function utf8Step(state: number, byte: number): number {
  switch (state) {
    case 0:
      if (byte < 0x80) return 0;
      if (byte < 0xc2) return UTF8_REJECT; // continuation byte or overlong 2-byte lead
      if (byte < 0xe0) return 1;
      if (byte === 0xe0) return 4; // 3-byte, second byte A0..BF (no overlong)
      if (byte === 0xed) return 5; // 3-byte, second byte 80..9F (no surrogates)
      if (byte < 0xf0) return 2;
      if (byte === 0xf0) return 6; // 4-byte, second byte 90..BF (no overlong)
      if (byte < 0xf4) return 3;
      if (byte === 0xf4) return 7; // 4-byte, second byte 80..8F (≤ U+10FFFF)
      return UTF8_REJECT;
    case 1: return byte >= 0x80 && byte <= 0xbf ? 0 : UTF8_REJECT;
    case 2: return byte >= 0x80 && byte <= 0xbf ? 1 : UTF8_REJECT;
    case 3: return byte >= 0x80 && byte <= 0xbf ? 2 : UTF8_REJECT;
    case 4: return byte >= 0xa0 && byte <= 0xbf ? 1 : UTF8_REJECT;
    case 5: return byte >= 0x80 && byte <= 0x9f ? 1 : UTF8_REJECT;
    case 6: return byte >= 0x90 && byte <= 0xbf ? 2 : UTF8_REJECT;
    case 7: return byte >= 0x80 && byte <= 0x8f ? 2 : UTF8_REJECT;
    default: return UTF8_REJECT;
  }
}

export function validateUtf8Js(data: Uint8Array, offset: number, length: number, state: number): number {
  const end = offset + length;
  let i = offset;
  while (i < end) {
    if (state === UTF8_REJECT) return UTF8_REJECT;
    if (state === UTF8_ACCEPT) {
      // ASCII runs are the common case: skip them without the state switch.
      while (i < end && data[i] < 0x80) i++;
      if (i === end) break;
    }
    state = utf8Step(state, data[i++]);
  }
  return state;
}
