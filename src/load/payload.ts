/**
 * The echo payload: a sequence number and a send time at the start of every message, so a reply
 * is matched to its request by content alone and its round trip needs no lookup table.
 *
 * Text (ASCII, valid UTF-8 by construction): 6 hex digits of sequence (mod 2^24), 10 hex digits
 * of the send time in µs since the thread's time origin, then 'a' padding.
 * (`--payload json`: generated JSON-like text instead of the padding, see json-text.ts.)
 * Binary: u32 LE sequence, f64 LE send time in ms since the thread's time origin, then padding.
 * The bytes are written in place into one reusable buffer per connection: no allocation per message.
 */
import { jsonLikeText } from './json-text.js';

/** What fills a text message after its stamp: 'a's (ascii), or generated JSON-like text (json). */
export type PayloadKind = 'ascii' | 'json';

/** The smallest echo payload that carries both fields. */
export const ECHO_MIN_SIZE = 16;

const TEXT_SEQ_DIGITS = 6;
const TEXT_TIME_DIGITS = 10;
/** Text sequence numbers wrap here; with at most this many messages in flight they stay unique. */
export const TEXT_SEQ_MODULUS = 16 ** TEXT_SEQ_DIGITS;
const BINARY_SEQ_MODULUS = 2 ** 32;
const HEX = Buffer.from('0123456789abcdef');
const PADDING_BYTE = 0x61; // 'a'

/** A payload buffer of `size` bytes with its padding written once. */
export function createEchoPayload(size: number, binary: boolean, kind: PayloadKind = 'ascii'): Buffer {
  if (binary || kind === 'ascii') return Buffer.alloc(size, binary ? 0xa5 : PADDING_BYTE);
  const payload = Buffer.alloc(size, PADDING_BYTE);
  payload.write(jsonLikeText(size - ECHO_MIN_SIZE), ECHO_MIN_SIZE, 'latin1');
  return payload;
}

/** True when `reply` is `sent` byte for byte after the stamp (which the caller checks). */
export function echoBodyMatches(reply: Buffer, sent: Buffer): boolean {
  return reply.length === sent.length && reply.compare(sent, ECHO_MIN_SIZE, sent.length, ECHO_MIN_SIZE, reply.length) === 0;
}

export function sequenceModulus(binary: boolean): number {
  return binary ? BINARY_SEQ_MODULUS : TEXT_SEQ_MODULUS;
}

/** Writes `seq` and `sentAtMs` (performance.now() in this thread) into the payload's head. */
export function stampEchoPayload(payload: Buffer, binary: boolean, seq: number, sentAtMs: number): void {
  if (binary) {
    payload.writeUInt32LE(seq >>> 0, 0);
    payload.writeDoubleLE(sentAtMs, 4);
    return;
  }
  writeHex(payload, 0, TEXT_SEQ_DIGITS, seq & (TEXT_SEQ_MODULUS - 1));
  // 40 bits of µs as 2 + 8 hex digits: bit operations stay within 32 bits.
  const micros = Math.floor(sentAtMs * 1000);
  writeHex(payload, TEXT_SEQ_DIGITS, 2, Math.floor(micros / 2 ** 32) & 0xff);
  writeHex(payload, TEXT_SEQ_DIGITS + 2, 8, micros >>> 0);
}

/** The sequence number of a received payload, or -1 if its head is not ours. */
export function readEchoSeq(payload: Buffer, binary: boolean): number {
  if (payload.length < ECHO_MIN_SIZE) return -1;
  if (binary) return payload.readUInt32LE(0);
  return readHex(payload, 0, TEXT_SEQ_DIGITS);
}

/** The send time of a received payload in ms (same clock as stampEchoPayload), or -1. */
export function readEchoSentAt(payload: Buffer, binary: boolean): number {
  if (binary) return payload.readDoubleLE(4);
  const micros = readHex(payload, TEXT_SEQ_DIGITS, TEXT_TIME_DIGITS);
  return micros < 0 ? -1 : micros / 1000;
}

/** Writes `digits` (≤ 8) lowercase hex digits of a value below 2^32. */
function writeHex(target: Buffer, offset: number, digits: number, value: number): void {
  for (let i = offset + digits - 1; i >= offset; i--) {
    target[i] = HEX[value & 15];
    value >>>= 4;
  }
}

function readHex(source: Buffer, offset: number, digits: number): number {
  let value = 0;
  for (let i = offset; i < offset + digits; i++) {
    const c = source[i];
    let digit: number;
    if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) digit = c - 0x57;
    else return -1;
    value = value * 16 + digit;
  }
  return value;
}
