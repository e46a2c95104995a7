/**
 * Streaming UTF-8 validator (RFC 3629 §4 well-formed byte sequences). The state survives
 * chunk and frame boundaries, so a text message is checked as its bytes arrive and fails
 * on the first bad byte. The state numbers are the ones utf8Step uses in
 * src/codec/js-codec.ts: 0 accept, 1..7 inside a multi-byte sequence, 8 reject (src/codec/layout.ts).
 */

import { UTF8_ACCEPT, UTF8_REJECT } from '../src/codec/layout';

// @ts-ignore: decorator
@inline function inRange(byte: u32, low: u32, high: u32): bool {
  return byte - low <= high - low;
}

/** One validator step; mirrors utf8Step in js-codec.ts. */
// @ts-ignore: decorator
@inline function utf8Step(state: u32, byte: u32): u32 {
  switch (state) {
    case 0: {
      if (byte < 0x80) return 0;
      if (byte < 0xc2) return UTF8_REJECT; // continuation byte or overlong 2-byte lead
      if (byte < 0xe0) return 1;
      if (byte == 0xe0) return 4; // 3-byte, second byte A0..BF (no overlong)
      if (byte == 0xed) return 5; // 3-byte, second byte 80..9F (no surrogates)
      if (byte < 0xf0) return 2;
      if (byte == 0xf0) return 6; // 4-byte, second byte 90..BF (no overlong)
      if (byte < 0xf4) return 3;
      if (byte == 0xf4) return 7; // 4-byte, second byte 80..8F (≤ U+10FFFF)
      return UTF8_REJECT;
    }
    case 1: return inRange(byte, 0x80, 0xbf) ? 0 : UTF8_REJECT;
    case 2: return inRange(byte, 0x80, 0xbf) ? 1 : UTF8_REJECT;
    case 3: return inRange(byte, 0x80, 0xbf) ? 2 : UTF8_REJECT;
    case 4: return inRange(byte, 0xa0, 0xbf) ? 1 : UTF8_REJECT;
    case 5: return inRange(byte, 0x80, 0x9f) ? 1 : UTF8_REJECT;
    case 6: return inRange(byte, 0x90, 0xbf) ? 2 : UTF8_REJECT;
    case 7: return inRange(byte, 0x80, 0x8f) ? 2 : UTF8_REJECT;
    default: return UTF8_REJECT;
  }
}

/** The first byte at or after p that is not ASCII, or end. */
// @ts-ignore: decorator
@inline function skipAscii(p: usize, end: usize): usize {
  // 16, then 8 bytes at a time; the high bits locate the first non-ASCII byte.
  while (end - p >= 16) {
    const high = i8x16.bitmask(v128.load(p));
    if (high != 0) return p + <usize>ctz<i32>(high);
    p += 16;
  }
  if (end - p >= 8) {
    const high = load<u64>(p) & 0x8080_8080_8080_8080;
    if (high != 0) return p + <usize>(ctz<u64>(high) >> 3);
    p += 8;
  }
  while (p < end && load<u8>(p) < 0x80) p++;
  return p;
}

/**
 * The byte length of the well-formed multi-byte character whose first 4 bytes are `w`
 * (little-endian), or 0 when they do not start one: the same byte ranges as utf8Step,
 * checked at once. A 0 sends the caller to utf8Step, which finds the same answer byte by byte.
 */
// @ts-ignore: decorator
@inline function wholeCharacterLength(w: u32): usize {
  const b0 = w & 0xff;
  const b1 = (w >> 8) & 0xff;
  if ((w & 0xc0e0) == 0x80c0) return b0 >= 0xc2 ? 2 : 0; // 110xxxxx 10xxxxxx, no overlong
  if ((w & 0xc0c0f0) == 0x8080e0) { // 1110xxxx 10xxxxxx 10xxxxxx
    if (b0 == 0xe0) return b1 >= 0xa0 ? 3 : 0; // no overlong
    if (b0 == 0xed) return b1 <= 0x9f ? 3 : 0; // no surrogates
    return 3;
  }
  if ((w & 0xc0c0c0f8) == 0x808080f0) { // 11110xxx 10xxxxxx 10xxxxxx 10xxxxxx
    if (b0 == 0xf0) return b1 >= 0x90 ? 4 : 0; // no overlong
    if (b0 == 0xf4) return b1 <= 0x8f ? 4 : 0; // ≤ U+10FFFF
    return b0 < 0xf4 ? 4 : 0;
  }
  return 0;
}

/** Streams [ptr, ptr+length) through the validator from `state`; returns the new state (8 = reject). */
export function validateUtf8(ptr: usize, length: usize, state: u32): u32 {
  const end = ptr + length;
  let p = ptr;
  while (p < end) {
    if (state == UTF8_REJECT) return UTF8_REJECT;
    if (state == UTF8_ACCEPT) {
      // Between characters: skip ASCII runs and whole characters while 4 bytes are readable.
      while (end - p >= 4) {
        const w = load<u32>(p);
        if ((w & 0x80) == 0) {
          // ASCII: a short run ends inside this word; a long one goes to the SIMD skip.
          const high = w & 0x8080_8080;
          p = high == 0 ? skipAscii(p + 4, end) : p + <usize>(ctz<u32>(high) >> 3);
          continue;
        }
        const length = wholeCharacterLength(w);
        if (length == 0) break;
        p += length;
      }
      if (p == end) break; // otherwise utf8Step takes the next byte (ASCII in the last 3, or not a whole character)
    }
    state = utf8Step(state, <u32>load<u8>(p));
    p++;
  }
  return state;
}
