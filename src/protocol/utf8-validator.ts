/**
 * UTF-8 validation of text messages with the fastest validator per segment, still fail-fast:
 * every segment (the part of a frame that arrived in one read) is checked as it arrives, and the
 * state carries a character split across segments, frames and reads.
 *
 * Node's `buffer.isUtf8` (simdutf) runs at tens of GB/s but only answers for whole characters;
 * the streaming validator (the codec's, or its JS twin for a few bytes) keeps state across
 * boundaries. bench/results/codec.md has the numbers behind NATIVE_MIN_BYTES.
 */
import { isUtf8 } from 'node:buffer';
import { UTF8_ACCEPT, UTF8_REJECT, validateUtf8Js } from '../codec/codec.js';

/**
 * Below this many bytes, streaming in JS is as fast as a call to isUtf8 (bench/results/codec.md:
 * 16 B ASCII 24 ns both; 125 B 204 ns JS vs 23 ns isUtf8).
 */
export const NATIVE_MIN_BYTES = 32;

/** Validates data[start, start+length) from `state`; returns the new state (UTF8_REJECT when invalid). */
export function validateTextSegment(data: Uint8Array, start: number, length: number, state: number): number {
  if (length < NATIVE_MIN_BYTES || state === UTF8_REJECT) return validateUtf8Js(data, start, length, state);
  const end = start + length;
  let from = start;
  // Finish the character the previous segment left open (at most 3 bytes).
  while (state !== UTF8_ACCEPT && from < end) {
    state = validateUtf8Js(data, from, 1, state);
    from++;
    if (state === UTF8_REJECT) return UTF8_REJECT;
  }
  const boundary = lastCharacterBoundary(data, from, end);
  // A new subarray costs about 40 ns: check the caller's view itself when it is the whole range.
  const whole = from === 0 && boundary === data.length;
  if (!isUtf8(whole ? data : data.subarray(from, boundary))) return UTF8_REJECT;
  // The tail is a character cut by the end of the segment: stream it so the next segment can finish it.
  return validateUtf8Js(data, boundary, end - boundary, UTF8_ACCEPT);
}

/**
 * The end of the last complete character in data[from, end): end itself, unless the last lead
 * byte (within the last 3 bytes) starts a sequence longer than what is left.
 */
function lastCharacterBoundary(data: Uint8Array, from: number, end: number): number {
  for (let back = 1; back <= 3 && end - back >= from; back++) {
    const byte = data[end - back];
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: keep looking for its lead
    const sequenceLength = byte < 0x80 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
    return sequenceLength > back ? end - back : end;
  }
  return end; // no lead in the last 3 bytes: a complete 4-byte character, or invalid for isUtf8
}
