/**
 * The pub/sub JSON messages of the broadcast scenario, in one place so they can follow the
 * server's protocol if it changes:
 *   subscribe  {"type":"subscribe","topic":T}
 *   publish    {"type":"publish","topic":T,"data":"<stamp><padding>"}
 *   delivery   {"type":"message","topic":T,"data":"<stamp><padding>"}
 * The stamp is `<ts>:<publisher>:<seq>`, fixed width, lowercase hex: <ts> the send time in µs
 * since the Unix epoch (13 digits, comparable across threads and processes of this machine),
 * <publisher> the publishing connection's id in the run (5 digits), <seq> its sequence number
 * (8 digits, mod 2^32). <padding> is 'x' up to --size bytes (`--payload json`: JSON-like text with
 * ' for quotes, so it sits in the JSON string unescaped).
 */
import type { PayloadKind } from './payload.js';
import { jsonLikeText } from './json-text.js';

const TS_DIGITS = 13;
const PUBLISHER_DIGITS = 5;
const SEQ_DIGITS = 8;
const PUBLISHER_AT = TS_DIGITS + 1;
const SEQ_AT = PUBLISHER_AT + PUBLISHER_DIGITS + 1;
/** The data string's fixed part: "<ts>:<publisher>:<seq>". */
export const PUBLISH_MIN_SIZE = SEQ_AT + SEQ_DIGITS;
/** Publisher ids fit the stamp's field. */
export const MAX_PUBLISHERS = 16 ** PUBLISHER_DIGITS;
/** Sequence numbers travel modulo this. */
export const SEQ_MODULUS = 2 ** 32;

const DATA_KEY = Buffer.from('"data":"');
const MESSAGE_TYPE = Buffer.from('"type":"message"');
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
/** A subscribe reply is its topic and a few keys: anything longer is not one. */
const MAX_REPLY_BYTES = 1024;
const HEX_DIGITS = Buffer.from('0123456789abcdef');
/** Byte → hex digit value, -1 for anything else: one lookup per digit on the receive path. */
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) HEX_VALUE[HEX_DIGITS[i]] = i;

/** Wall-clock µs since the epoch, with performance.now()'s resolution. */
export function epochMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

export function subscribeMessage(topic: string): string {
  return JSON.stringify({ type: 'subscribe', topic });
}

/** The server's answer to subscribeMessage: {"type":"subscribed","topic":T} (any JSON spacing). */
export function isSubscribedReply(bytes: Buffer, start: number, length: number, topic: string): boolean {
  if (length > MAX_REPLY_BYTES || bytes[start] !== OPEN_BRACE) return false;
  let reply: unknown;
  try {
    reply = JSON.parse(bytes.toString('utf8', start, start + length));
  } catch {
    return false;
  }
  const { type, topic: repliedTopic } = reply as { type?: unknown; topic?: unknown };
  return type === 'subscribed' && repliedTopic === topic;
}

/** What a delivery's stamp says; `sentAt` is -1 when the message is not one of our deliveries. */
export interface DeliveryStamp {
  sentAt: number;
  publisher: number;
  seq: number;
}

/** A reusable publish message; `stamp` rewrites its time, publisher and sequence in place. */
export class PublishTemplate {
  readonly bytes: Buffer;
  readonly #dataStart: number;

  constructor(topic: string, dataSize: number, kind: PayloadKind = 'ascii') {
    const size = Math.max(dataSize, PUBLISH_MIN_SIZE);
    const padding = kind === 'json' ? jsonLikeText(size - PUBLISH_MIN_SIZE, "'") : 'x'.repeat(size - PUBLISH_MIN_SIZE);
    const data = `${'0'.repeat(TS_DIGITS)}:${'0'.repeat(PUBLISHER_DIGITS)}:${'0'.repeat(SEQ_DIGITS)}${padding}`;
    const text = JSON.stringify({ type: 'publish', topic, data });
    this.bytes = Buffer.from(text, 'utf8');
    this.#dataStart = this.bytes.indexOf(DATA_KEY) + DATA_KEY.length;
  }

  stamp(sentAtMicros: number, publisher: number, seq: number): Buffer {
    const start = this.#dataStart;
    writeHex(this.bytes, start, TS_DIGITS, sentAtMicros);
    writeHex(this.bytes, start + PUBLISHER_AT, PUBLISHER_DIGITS, publisher);
    writeHex(this.bytes, start + SEQ_AT, SEQ_DIGITS, seq % SEQ_MODULUS);
    return this.bytes;
  }
}

/** Offsets in `{"type":"message","topic":…`: the type's value, and the topic. */
const TYPE_VALUE_AT = '{"type":"'.length;
const TYPE_VALUE_END = TYPE_VALUE_AT + 'message'.length;
const TOPIC_AT = '{"type":"message","topic":'.length;

/** Slots of the send-time cache: deliveries of one publish to many subscribers parse its time once. */
const SENT_AT_CACHE = 1024;

/**
 * Reads deliveries of one topic. The fast path expects the serialisation our server and most
 * others write, `{"type":"message","topic":T,"data":"`, compares its type, topic and data key byte
 * by byte in JS (no native call) and reads the stamp at its offset without searching or decoding;
 * anything else goes through JSON.parse. A publish reaches every subscriber with the same stamp, so its send time is
 * parsed once and then found by (publisher, sequence).
 */
export class DeliveryReader {
  readonly #prefix: Uint8Array;
  readonly #cacheKey = new Float64Array(SENT_AT_CACHE).fill(-1);
  readonly #cacheSentAt = new Float64Array(SENT_AT_CACHE);
  /** The last stamp read: one object reused, so reading allocates nothing. */
  readonly stamp: DeliveryStamp = { sentAt: -1, publisher: 0, seq: 0 };

  constructor(topic: string) {
    this.#prefix = new Uint8Array(Buffer.from(`{"type":"message","topic":${JSON.stringify(topic)},"data":"`));
  }

  /** Bytes from a delivery's start through its stamp, in the serialisation the fast path reads. */
  get stampEnd(): number {
    return this.#prefix.length + PUBLISH_MIN_SIZE;
  }

  /** Reads `message` into `this.stamp`; false when it is not one of our deliveries. */
  read(message: Buffer): boolean {
    return this.readAt(message, 0, message.length);
  }

  /** The same for the message in bytes[start, start + length), read in place. */
  readAt(bytes: Buffer, start: number, length: number): boolean {
    const prefix = this.#prefix;
    const at = start + prefix.length;
    if (length < prefix.length + PUBLISH_MIN_SIZE) return this.#general(bytes, start, length);
    // The topic and the data key, from the end, then the type's value: the rest of the prefix is
    // `{"type":"` and `","topic":`, the same in every message of the protocol.
    for (let i = prefix.length - 1; i >= TOPIC_AT; i--) if (bytes[start + i] !== prefix[i]) return this.#general(bytes, start, length);
    for (let i = TYPE_VALUE_AT; i < TYPE_VALUE_END; i++) if (bytes[start + i] !== prefix[i]) return this.#general(bytes, start, length);
    if (bytes[at + PUBLISHER_AT - 1] !== COLON || bytes[at + SEQ_AT - 1] !== COLON) return this.#general(bytes, start, length);
    const publisher = readHex(bytes, at + PUBLISHER_AT, PUBLISHER_DIGITS);
    const seq = readHex(bytes, at + SEQ_AT, SEQ_DIGITS);
    if (publisher < 0 || seq < 0) return this.#general(bytes, start, length);
    const key = publisher * SEQ_MODULUS + seq;
    const slot = (seq ^ (publisher * 31)) & (SENT_AT_CACHE - 1);
    let sentAt: number;
    if (this.#cacheKey[slot] === key) {
      sentAt = this.#cacheSentAt[slot];
    } else {
      sentAt = readHex(bytes, at, TS_DIGITS);
      if (sentAt < 0) return this.#general(bytes, start, length);
      this.#cacheKey[slot] = key;
      this.#cacheSentAt[slot] = sentAt;
    }
    const stamp = this.stamp;
    stamp.sentAt = sentAt;
    stamp.publisher = publisher;
    stamp.seq = seq;
    return true;
  }

  #general(bytes: Buffer, start: number, length: number): boolean {
    return readDeliveryStamp(start === 0 && length === bytes.length ? bytes : bytes.subarray(start, start + length), this.stamp);
  }
}

/**
 * Reads the stamp of a delivery of any topic and serialisation into `into`; false (and sentAt -1)
 * when the message is not a delivery (an acknowledgement, say) or its data is not ours.
 */
function readDeliveryStamp(message: Buffer, into: DeliveryStamp): boolean {
  into.sentAt = -1;
  const key = message.indexOf(DATA_KEY);
  if (key >= 0 && message.indexOf(MESSAGE_TYPE) >= 0 && readStamp(message, key + DATA_KEY.length, into)) return true;
  let parsed: unknown;
  try {
    parsed = JSON.parse(message.toString('utf8'));
  } catch {
    return false;
  }
  const delivery = parsed as { type?: unknown; data?: unknown };
  if (delivery === null || typeof delivery !== 'object' || delivery.type !== 'message' || typeof delivery.data !== 'string') return false;
  return readStamp(Buffer.from(delivery.data, 'latin1'), 0, into);
}

function readStamp(bytes: Buffer, start: number, into: DeliveryStamp): boolean {
  if (bytes.length < start + PUBLISH_MIN_SIZE || bytes[start + PUBLISHER_AT - 1] !== COLON || bytes[start + SEQ_AT - 1] !== COLON) {
    into.sentAt = -1;
    return false;
  }
  const sentAt = readHex(bytes, start, TS_DIGITS);
  const publisher = readHex(bytes, start + PUBLISHER_AT, PUBLISHER_DIGITS);
  const seq = readHex(bytes, start + SEQ_AT, SEQ_DIGITS);
  if (sentAt < 0 || publisher < 0 || seq < 0) {
    into.sentAt = -1;
    return false;
  }
  into.sentAt = sentAt;
  into.publisher = publisher;
  into.seq = seq;
  return true;
}

/** Writes `digits` lowercase hex digits of a value below 2^53. */
function writeHex(target: Buffer, offset: number, digits: number, value: number): void {
  for (let i = offset + digits - 1; i >= offset; i--) {
    target[i] = HEX_DIGITS[value % 16];
    value = Math.floor(value / 16);
  }
}

function readHex(source: Buffer, offset: number, digits: number): number {
  let value = 0;
  for (let i = offset; i < offset + digits; i++) {
    const digit = HEX_VALUE[source[i]];
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}
