/**
 * The pub/sub application and its client protocol (docs/pubsub-protocol.md has every message).
 *
 * JSON text messages; any request may carry `"id"` (a number), echoed by its reply and errors:
 *   → {"type":"subscribe","topic":P[,"recover":{"offset":O,"epoch":E}]}  {"type":"unsubscribe","topic":P}
 *   → {"type":"publish","topic":T,"data":D[,"self":false]}  (acknowledged with `published` when it has an id)
 *   → {"type":"history","topic":T[,"limit":L][,"since":{"offset":O,"epoch":E}]}  {"type":"presence","topic":T}
 *   ← {"type":"subscribed","topic":P[,"offset":N,"epoch":E][,"recovered":B]} {"type":"unsubscribed","topic":P}
 *   ← {"type":"message","topic":T,"data":D[,"offset":N]}  {"type":"published","topic":T[,"offset":N]}
 *   ← {"type":"history",…,"messages":[{"offset":N,"data":D},…]}  {"type":"presence","topic":T,"subscribers":N}
 *   ← {"type":"error","code":C,"message":M[,"topic":P]}
 *   → {"type":"ping"}  ← {"type":"pong"}   (a client's check that the server still answers; `id` echoed)
 * Compact binary messages, for high rates (live only: no offsets, ids or history):
 *   → [op u8: 1 publish, 2 subscribe, 3 unsubscribe][topic length u8][topic UTF-8][data…]
 *   ← [topic length u8][topic UTF-8][data…]   (a delivery of a binary publish)
 * A delivery has the format of its publish: JSON publishes arrive as JSON, binary as binary.
 * Every bad request gets an error reply and the connection stays open.
 */
import { isUtf8 } from 'node:buffer';
import type { Application, Connection, PubSubRefusal, StreamPosition } from './app.js';
import type { HistoryReply } from '../pubsub/history.js';
import { topicError, MAX_TOPIC_BYTES } from '../pubsub/topics.js';
import { clientScript } from '../pubsub/client-script.js';
import { pubsubPage } from '../pubsub/page.js';

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

/** An epoch from a client longer than this is not one of ours. */
const MAX_EPOCH_LENGTH = 64;

type ErrorCode = 'bad_json' | 'unknown_type' | 'bad_topic' | 'topic_too_long' | 'bad_request' | 'no_history' | PubSubRefusal['code'];

/** A request's `id`, echoed by its reply and errors; undefined when it had none. */
type RequestId = number | undefined;

function sendError(conn: Connection, code: ErrorCode, message: string, topic?: string, id?: RequestId): void {
  const reply: Record<string, unknown> = { type: 'error', code, message };
  if (id !== undefined) reply.id = id;
  if (topic !== undefined) reply.topic = topic;
  conn.send(JSON.stringify(reply));
}

/** A client's position (`recover`, `since`), or a string saying what is wrong with it. */
function streamPosition(value: unknown, field: string): StreamPosition | string {
  const { offset, epoch } = (value ?? {}) as { offset?: unknown; epoch?: unknown };
  if (value === null || typeof value !== 'object' || Array.isArray(value)
    || !Number.isSafeInteger(offset) || (offset as number) < 0 || typeof epoch !== 'string' || epoch.length > MAX_EPOCH_LENGTH) {
    return `"${field}" must be {"offset": a whole number ≥ 0, "epoch": a string of at most ${MAX_EPOCH_LENGTH} characters}`;
  }
  return { offset: offset as number, epoch };
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
function checkTopic(conn: Connection, topic: unknown, isPattern: boolean, id?: RequestId): topic is string {
  if (typeof topic !== 'string') {
    sendError(conn, 'bad_topic', 'topic must be a string', undefined, id);
    return false;
  }
  const error = topicError(topic, isPattern);
  if (error === undefined) return true;
  const tooLong = Buffer.byteLength(topic) > MAX_TOPIC_BYTES;
  sendError(conn, tooLong ? 'topic_too_long' : 'bad_topic', tooLong ? `topic is over ${MAX_TOPIC_BYTES} bytes` : error, shortened(topic), id);
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
function changeSubscription(conn: Connection, pattern: string, type: 'subscribe' | 'unsubscribe', id?: RequestId, recover?: StreamPosition): void {
  if (type === 'unsubscribe') {
    conn.unsubscribe(pattern);
    conn.send(id === undefined ? JSON.stringify({ type: 'unsubscribed', topic: pattern }) : JSON.stringify({ type: 'unsubscribed', id, topic: pattern }));
    return;
  }
  const refusal = conn.subscribe(pattern, {
    recover,
    onSubscribed: ({ position, recovered }) => {
      const reply: Record<string, unknown> = { type: 'subscribed' };
      if (id !== undefined) reply.id = id;
      reply.topic = pattern;
      if (position !== undefined) {
        reply.offset = position.offset;
        reply.epoch = position.epoch;
      }
      if (recovered !== undefined) reply.recovered = recovered;
      conn.send(JSON.stringify(reply));
    },
  });
  if (refusal !== undefined) sendError(conn, refusal.code, refusal.message, pattern, id);
}

function publish(conn: Connection, topic: string, data: string | Uint8Array, isBinary: boolean): void {
  const refusal = conn.publish(topic, data, isBinary);
  if (refusal !== undefined) sendError(conn, refusal.code, refusal.message, topic);
}

/** A JSON publish: kept in history (when the server keeps it); acknowledged when it has an id. */
function publishMessage(conn: Connection, topic: string, data: unknown, id: RequestId, self: boolean): void {
  const refusal = conn.publishMessage(topic, data, {
    self,
    onPublished: id === undefined ? undefined : (position) => {
      conn.send(position === undefined
        ? JSON.stringify({ type: 'published', id, topic })
        : JSON.stringify({ type: 'published', id, topic, offset: position.offset }));
    },
  });
  if (refusal !== undefined) sendError(conn, refusal.code, refusal.message, topic, id);
}

/** The `history` reply: each kept delivery's `data` cut out of its bytes, not parsed again. */
function historyReply(topic: string, id: RequestId, reply: HistoryReply): string {
  // A kept delivery is `{"type":"message","topic":T,"data":D,"offset":N}`, byte for byte.
  const head = Buffer.byteLength(`{"type":"message","topic":${JSON.stringify(topic)},"data":`);
  const messages = reply.entries.map(({ offset, payload }) => {
    const tail = Buffer.byteLength(`,"offset":${offset}}`);
    return `{"offset":${offset},"data":${Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('utf8', head, payload.length - tail)}}`;
  });
  const fields: Record<string, unknown> = { type: 'history' };
  if (id !== undefined) fields.id = id;
  fields.topic = topic;
  fields.offset = reply.position.offset;
  fields.epoch = reply.position.epoch;
  if (reply.recovered !== undefined) fields.recovered = reply.recovered;
  const text = JSON.stringify(fields);
  return `${text.slice(0, -1)},"messages":[${messages.join(',')}]}`;
}

async function answerHistory(conn: Connection, topic: string, id: RequestId, limit: number | undefined, since: StreamPosition | undefined): Promise<void> {
  const reply = await conn.history(topic, { limit, since });
  if (reply === undefined) sendError(conn, 'no_history', 'no history is available (the server keeps none, or Redis is unreachable)', topic, id);
  else conn.send(historyReply(topic, id, reply));
}

async function answerPresence(conn: Connection, topic: string, id: RequestId): Promise<void> {
  const subscribers = await conn.presence(topic);
  conn.send(JSON.stringify(id === undefined ? { type: 'presence', topic, subscribers } : { type: 'presence', id, topic, subscribers }));
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
  const { type, topic, data, id: rawId } = request as { type?: unknown; topic?: unknown; data?: unknown; id?: unknown };
  if (rawId !== undefined && (typeof rawId !== 'number' || !Number.isFinite(rawId))) {
    sendError(conn, 'bad_request', '"id" must be a number');
    return;
  }
  const id = rawId as RequestId;
  const fields = request as { recover?: unknown; self?: unknown; limit?: unknown; since?: unknown };
  switch (type) {
    case 'subscribe': {
      if (!checkTopic(conn, topic, true, id)) return;
      let recover: StreamPosition | undefined;
      if (fields.recover !== undefined) {
        const position = streamPosition(fields.recover, 'recover');
        if (typeof position === 'string') return sendError(conn, 'bad_request', position, topic, id);
        if (topicError(topic, false) !== undefined) return sendError(conn, 'bad_request', 'recover needs an exact topic, not a pattern', topic, id);
        recover = position;
      }
      changeSubscription(conn, topic, type, id, recover);
      return;
    }
    case 'unsubscribe':
      if (checkTopic(conn, topic, true, id)) changeSubscription(conn, topic, type, id);
      return;
    case 'publish':
      if (!checkTopic(conn, topic, false, id)) return;
      if (data === undefined) {
        sendError(conn, 'bad_request', 'publish needs a "data" field', topic, id);
        return;
      }
      if (fields.self !== undefined && typeof fields.self !== 'boolean') {
        sendError(conn, 'bad_request', '"self" must be true or false', topic, id);
        return;
      }
      if (nestedDeeperThan(data, MAX_DATA_DEPTH)) {
        sendError(conn, 'bad_json', `"data" is nested more than ${MAX_DATA_DEPTH} levels deep`, topic, id);
        return;
      }
      publishMessage(conn, topic, data, id, fields.self !== false);
      return;
    case 'history': {
      if (!checkTopic(conn, topic, false, id)) return;
      const { limit } = fields;
      if (limit !== undefined && (!Number.isSafeInteger(limit) || (limit as number) < 0)) {
        sendError(conn, 'bad_request', '"limit" must be a whole number ≥ 0', topic, id);
        return;
      }
      let since: StreamPosition | undefined;
      if (fields.since !== undefined) {
        const position = streamPosition(fields.since, 'since');
        if (typeof position === 'string') return sendError(conn, 'bad_request', position, topic, id);
        since = position;
      }
      // Without limit or since: all the history holds.
      return void answerHistory(conn, topic, id, limit === undefined && since === undefined ? Number.MAX_SAFE_INTEGER : limit as number | undefined, since);
    }
    case 'presence':
      if (checkTopic(conn, topic, false, id)) void answerPresence(conn, topic, id);
      return;
    case 'ping':
      conn.send(id === undefined ? PONG : JSON.stringify({ type: 'pong', id }));
      return;
    default:
      sendError(conn, 'unknown_type', `unknown message type ${typeof type === 'string' ? JSON.stringify(shortened(type)) : typeof type}`, undefined, id);
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
  /** The demo page, and `wasmsocket/client` as a module any page (of any origin) may import. */
  httpGet(path) {
    if (path === '/' || path === '/index.html') return { contentType: 'text/html; charset=utf-8', body: pubsubPage() };
    if (path === '/client.js') {
      return {
        contentType: 'text/javascript; charset=utf-8', body: clientScript(),
        headers: { 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-cache' },
      };
    }
    return undefined;
  },
};

export default pubsub;
