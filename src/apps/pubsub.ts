/**
 * The pub/sub application and its client protocol (documented in the README).
 *
 * JSON text messages:
 *   → {"type":"subscribe","topic":P}  {"type":"unsubscribe","topic":P}  {"type":"publish","topic":T,"data":D}
 *   ← {"type":"subscribed","topic":P} {"type":"unsubscribed","topic":P} {"type":"message","topic":T,"data":D}
 *   ← {"type":"error","code":C,"message":M[,"topic":P]}
 *   → {"type":"ping"}  ← {"type":"pong"}   (a client's check that the server still answers)
 * Compact binary messages, for high rates:
 *   → [op u8: 1 publish, 2 subscribe, 3 unsubscribe][topic length u8][topic UTF-8][data…]
 *   ← [topic length u8][topic UTF-8][data…]   (a delivery of a binary publish)
 * A delivery has the format of its publish: JSON publishes arrive as JSON, binary as binary.
 * Every bad request gets an error reply and the connection stays open.
 */
import { isUtf8 } from 'node:buffer';
import type { Application, Connection, PubSubRefusal } from './app.js';
import { topicError, MAX_TOPIC_BYTES } from '../pubsub/topics.js';

/** Binary request opcodes. */
const BINARY_PUBLISH = 1, BINARY_SUBSCRIBE = 2, BINARY_UNSUBSCRIBE = 3;
/** A binary topic length is one byte. */
const MAX_BINARY_TOPIC_BYTES = Math.min(255, MAX_TOPIC_BYTES);

/**
 * `data` nested deeper than this is refused (bad_json): its delivery is serialized again, and
 * serializing recurses once per level (a stack overflow, deep enough).
 */
export const MAX_DATA_DEPTH = 128;
/** The answer to a ping: a browser cannot see WebSocket pings, so its client checks a silent server with this. */
const PONG = '{"type":"pong"}';
/** An invalid topic is echoed in its error reply cut to this many UTF-16 units, and an ellipsis. */
const ECHOED_TOPIC_LENGTH = 64;

type ErrorCode = 'bad_json' | 'unknown_type' | 'bad_topic' | 'topic_too_long' | 'bad_request' | PubSubRefusal['code'];

function sendError(conn: Connection, code: ErrorCode, message: string, topic?: string): void {
  const reply: Record<string, unknown> = { type: 'error', code, message };
  if (topic !== undefined) reply.topic = topic;
  conn.send(JSON.stringify(reply));
}

/** A client's string, short enough to echo: a bad topic may be megabytes. */
function shortened(text: string): string {
  if (text.length <= ECHOED_TOPIC_LENGTH) return text;
  // Never cut a surrogate pair in two.
  const last = text.charCodeAt(ECHOED_TOPIC_LENGTH - 1);
  const end = last >= 0xd800 && last <= 0xdbff ? ECHOED_TOPIC_LENGTH - 1 : ECHOED_TOPIC_LENGTH;
  return `${text.slice(0, end)}…`;
}

/** Checks a topic from the client; answers the error and returns false when it is not valid. */
function checkTopic(conn: Connection, topic: unknown, isPattern: boolean): topic is string {
  if (typeof topic !== 'string') {
    sendError(conn, 'bad_topic', 'topic must be a string');
    return false;
  }
  const error = topicError(topic, isPattern);
  if (error === undefined) return true;
  const tooLong = Buffer.byteLength(topic) > MAX_TOPIC_BYTES;
  sendError(conn, tooLong ? 'topic_too_long' : 'bad_topic', tooLong ? `topic is over ${MAX_TOPIC_BYTES} bytes` : error, shortened(topic));
  return false;
}

/** True when `value` has objects or arrays nested more than `limit` deep (walked without recursion). */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  const pending: unknown[] = [value];
  const depths: number[] = [0];
  while (pending.length > 0) {
    const next = pending.pop();
    const depth = depths.pop()!;
    if (next === null || typeof next !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(next) ? next : Object.values(next)) {
      if (child !== null && typeof child === 'object') {
        pending.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/** Subscribes or unsubscribes and acknowledges it, or answers why not. */
function changeSubscription(conn: Connection, pattern: string, type: 'subscribe' | 'unsubscribe'): void {
  if (type === 'unsubscribe') {
    conn.unsubscribe(pattern);
  } else {
    const refusal = conn.subscribe(pattern);
    if (refusal !== undefined) {
      sendError(conn, refusal.code, refusal.message, pattern);
      return;
    }
  }
  conn.send(JSON.stringify({ type: type === 'subscribe' ? 'subscribed' : 'unsubscribed', topic: pattern }));
}

function publish(conn: Connection, topic: string, data: string | Uint8Array, isBinary: boolean): void {
  const refusal = conn.publish(topic, data, isBinary);
  if (refusal !== undefined) sendError(conn, refusal.code, refusal.message, topic);
}

function handleJson(conn: Connection, text: string): void {
  let request: unknown;
  try {
    request = JSON.parse(text);
  } catch {
    sendError(conn, 'bad_json', 'message is not valid JSON');
    return;
  }
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    sendError(conn, 'bad_request', 'message must be a JSON object with a "type"');
    return;
  }
  const { type, topic, data } = request as { type?: unknown; topic?: unknown; data?: unknown };
  switch (type) {
    case 'subscribe':
    case 'unsubscribe':
      if (checkTopic(conn, topic, true)) changeSubscription(conn, topic, type);
      return;
    case 'publish':
      if (!checkTopic(conn, topic, false)) return;
      if (data === undefined) {
        sendError(conn, 'bad_request', 'publish needs a "data" field', topic);
        return;
      }
      if (nestedDeeperThan(data, MAX_DATA_DEPTH)) {
        sendError(conn, 'bad_json', `"data" is nested more than ${MAX_DATA_DEPTH} levels deep`, topic);
        return;
      }
      // The delivery is serialized once here; the broker frames it once for all subscribers.
      publish(conn, topic, `{"type":"message","topic":${JSON.stringify(topic)},"data":${JSON.stringify(data)}}`, false);
      return;
    case 'ping':
      conn.send(PONG);
      return;
    default:
      sendError(conn, 'unknown_type', `unknown message type ${typeof type === 'string' ? JSON.stringify(shortened(type)) : typeof type}`);
  }
}

function handleBinary(conn: Connection, bytes: Buffer): void {
  if (bytes.length < 2 || bytes.length < 2 + bytes[1]) {
    sendError(conn, 'bad_request', 'binary message must be [op][topic length][topic][data]');
    return;
  }
  const op = bytes[0];
  const topicLength = bytes[1];
  if (op !== BINARY_PUBLISH && op !== BINARY_SUBSCRIBE && op !== BINARY_UNSUBSCRIBE) {
    sendError(conn, 'unknown_type', `unknown binary opcode ${op}`);
    return;
  }
  // Decoding would turn every invalid sequence into U+FFFD: different bytes, the same topic.
  if (!isUtf8(bytes.subarray(2, 2 + topicLength))) {
    sendError(conn, 'bad_topic', 'topic is not valid UTF-8');
    return;
  }
  const topic = bytes.toString('utf8', 2, 2 + topicLength);
  if (op === BINARY_PUBLISH) {
    // The delivery is the request without its opcode byte: [topic length][topic][data].
    if (checkTopic(conn, topic, false)) publish(conn, topic, bytes.subarray(1), true);
  } else if (checkTopic(conn, topic, true)) {
    changeSubscription(conn, topic, op === BINARY_SUBSCRIBE ? 'subscribe' : 'unsubscribe');
  }
}

/** Encodes a binary request; used by clients (the load generator, tests). */
export function encodeBinaryRequest(op: 'publish' | 'subscribe' | 'unsubscribe', topic: string, data: Uint8Array = new Uint8Array(0)): Buffer {
  const topicBytes = Buffer.from(topic, 'utf8');
  if (topicBytes.length > MAX_BINARY_TOPIC_BYTES) throw new RangeError(`a binary topic is at most ${MAX_BINARY_TOPIC_BYTES} bytes`);
  const code = op === 'publish' ? BINARY_PUBLISH : op === 'subscribe' ? BINARY_SUBSCRIBE : BINARY_UNSUBSCRIBE;
  return Buffer.concat([Buffer.from([code, topicBytes.length]), topicBytes, data]);
}

const pubsub: Application = {
  message(conn, data, isBinary) {
    if (isBinary) handleBinary(conn, data);
    else handleJson(conn, data.toString('utf8'));
  },
};

export default pubsub;
