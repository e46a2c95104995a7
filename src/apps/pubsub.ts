/**
 * The pub/sub application and its client protocol (documented in the README).
 *
 * JSON text messages:
 *   → {"type":"subscribe","topic":P}  {"type":"unsubscribe","topic":P}  {"type":"publish","topic":T,"data":D}
 *   ← {"type":"subscribed","topic":P} {"type":"unsubscribed","topic":P} {"type":"message","topic":T,"data":D}
 *   ← {"type":"error","code":C,"message":M[,"topic":P]}
 * Compact binary messages, for high rates:
 *   → [op u8: 1 publish, 2 subscribe, 3 unsubscribe][topic length u8][topic UTF-8][data…]
 *   ← [topic length u8][topic UTF-8][data…]   (a delivery of a binary publish)
 * A delivery has the format of its publish: JSON publishes arrive as JSON, binary as binary.
 */
import type { Application, Connection } from './app.js';
import { topicError, MAX_TOPIC_BYTES } from '../pubsub/topics.js';

/** Binary request opcodes. */
const BINARY_PUBLISH = 1, BINARY_SUBSCRIBE = 2, BINARY_UNSUBSCRIBE = 3;
/** A binary topic length is one byte. */
const MAX_BINARY_TOPIC_BYTES = Math.min(255, MAX_TOPIC_BYTES);

type ErrorCode = 'bad_json' | 'unknown_type' | 'bad_topic' | 'topic_too_long' | 'bad_request';

function sendError(conn: Connection, code: ErrorCode, message: string, topic?: unknown): void {
  const reply: Record<string, unknown> = { type: 'error', code, message };
  if (typeof topic === 'string') reply.topic = topic;
  conn.send(JSON.stringify(reply));
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
  sendError(conn, tooLong ? 'topic_too_long' : 'bad_topic', tooLong ? `topic is over ${MAX_TOPIC_BYTES} bytes` : error, topic);
  return false;
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
      if (!checkTopic(conn, topic, true)) return;
      conn.subscribe(topic);
      conn.send(JSON.stringify({ type: 'subscribed', topic }));
      return;
    case 'unsubscribe':
      if (!checkTopic(conn, topic, true)) return;
      conn.unsubscribe(topic);
      conn.send(JSON.stringify({ type: 'unsubscribed', topic }));
      return;
    case 'publish':
      if (!checkTopic(conn, topic, false)) return;
      if (data === undefined) {
        sendError(conn, 'bad_request', 'publish needs a "data" field', topic);
        return;
      }
      // The delivery is serialized once here; the broker frames it once for all subscribers.
      conn.publish(topic, `{"type":"message","topic":${JSON.stringify(topic)},"data":${JSON.stringify(data)}}`);
      return;
    default:
      sendError(conn, 'unknown_type', `unknown message type ${JSON.stringify(type) ?? 'undefined'}`);
  }
}

function handleBinary(conn: Connection, bytes: Buffer): void {
  if (bytes.length < 2 || bytes.length < 2 + bytes[1]) {
    sendError(conn, 'bad_request', 'binary message must be [op][topic length][topic][data]');
    return;
  }
  const op = bytes[0];
  const topicLength = bytes[1];
  const topic = bytes.toString('utf8', 2, 2 + topicLength);
  if (op === BINARY_PUBLISH) {
    if (!checkTopic(conn, topic, false)) return;
    // The delivery is the request without its opcode byte: [topic length][topic][data].
    conn.publish(topic, bytes.subarray(1), true);
  } else if (op === BINARY_SUBSCRIBE || op === BINARY_UNSUBSCRIBE) {
    if (!checkTopic(conn, topic, true)) return;
    if (op === BINARY_SUBSCRIBE) conn.subscribe(topic);
    else conn.unsubscribe(topic);
    conn.send(JSON.stringify({ type: op === BINARY_SUBSCRIBE ? 'subscribed' : 'unsubscribed', topic }));
  } else {
    sendError(conn, 'unknown_type', `unknown binary opcode ${op}`);
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
