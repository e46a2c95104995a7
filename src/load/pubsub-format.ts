/**
 * The pub/sub JSON messages of the broadcast scenario, in one place so they can follow the
 * server's protocol if it changes:
 *   subscribe  {"type":"subscribe","topic":T}
 *   publish    {"type":"publish","topic":T,"data":"<ts>:<seq>:<padding>"}
 *   delivery   {"type":"message","topic":T,"data":"<ts>:<seq>:<padding>"}
 * <ts> is the send time in µs since the Unix epoch (16 digits, comparable across threads and
 * processes of this machine), <seq> a 10-digit sequence number, <padding> 'x' up to --size bytes
 * (`--payload json`: JSON-like text with ' for quotes, so it sits in the JSON string unescaped).
 */
import type { PayloadKind } from './args.js';
import { jsonLikeText } from './json-text.js';

const TS_DIGITS = 16;
const SEQ_DIGITS = 10;
const SEQ_MODULUS = 10 ** SEQ_DIGITS;
/** The data string's fixed part: "<ts>:<seq>:". */
export const PUBLISH_MIN_SIZE = TS_DIGITS + 1 + SEQ_DIGITS + 1;

const DATA_KEY = Buffer.from('"data":"');
const MESSAGE_TYPE = Buffer.from('"type":"message"');
const COLON = 0x3a;

/** Wall-clock µs since the epoch, with performance.now()'s resolution. */
export function epochMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

export function subscribeMessage(topic: string): string {
  return JSON.stringify({ type: 'subscribe', topic });
}

/** A reusable publish message for one connection; `stamp` rewrites its time and sequence in place. */
export class PublishTemplate {
  readonly bytes: Buffer;
  readonly #dataStart: number;

  constructor(topic: string, dataSize: number, kind: PayloadKind = 'ascii') {
    const size = Math.max(dataSize, PUBLISH_MIN_SIZE);
    const padding = kind === 'json' ? jsonLikeText(size - PUBLISH_MIN_SIZE, "'") : 'x'.repeat(size - PUBLISH_MIN_SIZE);
    const data = `${'0'.repeat(TS_DIGITS)}:${'0'.repeat(SEQ_DIGITS)}:${padding}`;
    const text = JSON.stringify({ type: 'publish', topic, data });
    this.bytes = Buffer.from(text, 'utf8');
    this.#dataStart = this.bytes.indexOf(DATA_KEY) + DATA_KEY.length;
  }

  stamp(sentAtMicros: number, seq: number): Buffer {
    writeDecimal(this.bytes, this.#dataStart, TS_DIGITS, sentAtMicros);
    writeDecimal(this.bytes, this.#dataStart + TS_DIGITS + 1, SEQ_DIGITS, seq % SEQ_MODULUS);
    return this.bytes;
  }
}

/**
 * The send time (µs since the epoch) of a delivery, or -1 when the message is not a delivery
 * (an acknowledgement, say) or its data is not ours. A fast path reads our own compact
 * serialisation in place; anything else goes through JSON.parse.
 */
export function readDeliverySentAt(message: Buffer): number {
  const key = message.indexOf(DATA_KEY);
  if (key >= 0 && message.indexOf(MESSAGE_TYPE) >= 0) {
    const sentAt = readStampedData(message, key + DATA_KEY.length);
    if (sentAt >= 0) return sentAt;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(message.toString('utf8'));
  } catch {
    return -1;
  }
  const delivery = parsed as { type?: unknown; data?: unknown };
  if (delivery === null || typeof delivery !== 'object' || delivery.type !== 'message' || typeof delivery.data !== 'string') return -1;
  return readStampedData(Buffer.from(delivery.data, 'latin1'), 0);
}

function readStampedData(bytes: Buffer, start: number): number {
  if (bytes.length < start + PUBLISH_MIN_SIZE || bytes[start + TS_DIGITS] !== COLON) return -1;
  return readDecimal(bytes, start, TS_DIGITS);
}

function writeDecimal(target: Buffer, offset: number, digits: number, value: number): void {
  for (let i = offset + digits - 1; i >= offset; i--) {
    target[i] = 0x30 + (value % 10);
    value = Math.floor(value / 10);
  }
}

function readDecimal(source: Buffer, offset: number, digits: number): number {
  let value = 0;
  for (let i = offset; i < offset + digits; i++) {
    const digit = source[i] - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}
