/**
 * Topic history in Redis, for several nodes: Redis assigns the offsets, so they are contiguous
 * per topic whichever node a publish entered. Per topic two keys:
 *   wasmsocket-history:<topic>         a hash: `epoch`, `offset` (the last offset given)
 *   wasmsocket-history-stream:<topic>  a stream of the deliveries, entry id `<offset>-1`, field `d`
 * A publish is one Lua script (atomic: no other command runs between its steps): the next offset,
 * the delivery with `"offset":N` added, XADD with MAXLEN, both keys' TTL renewed, and the PUBLISH
 * to every node (redis-backplane.ts's message, version 2, carrying the offset and the epoch).
 * When the hash is gone (expired with its TTL, FLUSHALL, a Redis restarted without its data),
 * the next publish or read starts the topic again at offset 1 under a new epoch: a client holding
 * an old position is then told it cannot recover. An offset is never given twice under one epoch.
 */
import type { Redis } from 'ioredis';
import { newEpoch, type HistoryEntry, type HistoryLimits, type HistoryQuery, type HistoryReply, type StreamPosition } from './history.js';

const META_PREFIX = 'wasmsocket-history:';
const STREAM_PREFIX = 'wasmsocket-history-stream:';

/**
 * KEYS: meta, stream. ARGV: channel, message header, message (a JSON object), size, ttl ms,
 * a fresh epoch. Returns { offset, epoch }.
 */
const PUBLISH_SCRIPT = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[6]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
end
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
local digits = tostring(offset)
local delivery = string.sub(ARGV[3], 1, -2) .. ',"offset":' .. digits .. '}'
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], digits .. '-1', 'd', delivery)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PUBLISH', ARGV[1], ARGV[2] .. string.char(#digits) .. digits .. string.char(#epoch) .. epoch .. delivery)
return { offset, epoch }
`;

/**
 * KEYS: meta, stream. ARGV: since offset (-1: none), since epoch, limit (-1: none), a fresh
 * epoch, ttl ms, 1 when a subscriber joins (a topic without history keeps the fresh epoch).
 * Returns { offset, epoch, recovered (1, 0; -1 without since), id, d, id, d, … }.
 */
const READ_SCRIPT = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local offset = 0
if not epoch then
  epoch = ARGV[4]
  redis.call('DEL', KEYS[2])
  if ARGV[6] == '1' then
    redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
    redis.call('PEXPIRE', KEYS[1], ARGV[5])
  end
else
  offset = tonumber(redis.call('HGET', KEYS[1], 'offset'))
end
local since = tonumber(ARGV[1])
local limit = tonumber(ARGV[3])
local out = { offset, epoch, -1 }
local entries
if since >= 0 then
  local oldest = offset + 1
  local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
  if #first > 0 then oldest = tonumber(string.match(first[1][1], '^(%d+)')) end
  if ARGV[2] ~= epoch or since > offset or since < oldest - 1 then
    out[3] = 0
    return out
  end
  out[3] = 1
  if limit >= 0 then
    entries = redis.call('XRANGE', KEYS[2], tostring(since + 1) .. '-0', '+', 'COUNT', limit)
  else
    entries = redis.call('XRANGE', KEYS[2], tostring(since + 1) .. '-0', '+')
  end
elseif limit > 0 then
  local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', limit)
  entries = {}
  for i = #newest, 1, -1 do entries[#entries + 1] = newest[i] end
else
  entries = {}
end
for _, entry in ipairs(entries) do
  out[#out + 1] = entry[1]
  out[#out + 1] = entry[2][2]
end
return out
`;

/** The commands the scripts become on a connection (ioredis defineCommand). */
interface HistoryCommands {
  wasmsocketPublish(meta: string, stream: string, ...args: (string | Buffer | number)[]): Promise<[number, string]>;
  wasmsocketReadBuffer(meta: string, stream: string, ...args: (string | number)[]): Promise<(number | Buffer)[]>;
}

/** Defines the history scripts on `redis` (EVALSHA, falling back to EVAL once per connection). */
export function defineHistoryCommands(redis: Redis): void {
  redis.defineCommand('wasmsocketPublish', { numberOfKeys: 2, lua: PUBLISH_SCRIPT });
  redis.defineCommand('wasmsocketRead', { numberOfKeys: 2, lua: READ_SCRIPT });
}

/** Appends a history publish in Redis and publishes it (`header` is the backplane message's start). */
export async function publishWithHistory(redis: Redis, limits: HistoryLimits, channel: string, topic: string, header: Buffer, message: Uint8Array): Promise<StreamPosition> {
  const commands = redis as unknown as HistoryCommands;
  const [offset, epoch] = await commands.wasmsocketPublish(META_PREFIX + topic, STREAM_PREFIX + topic,
    channel, header, Buffer.from(message.buffer, message.byteOffset, message.length), limits.size, limits.ttlMs, newEpoch());
  return { offset: Number(offset), epoch: String(epoch) };
}

/** Reads a topic's position and the entries `query` asks for. */
export async function readHistory(redis: Redis, limits: HistoryLimits, topic: string, query: HistoryQuery): Promise<HistoryReply> {
  const commands = redis as unknown as HistoryCommands;
  const { since, limit } = query;
  const capped = limit === undefined ? -1 : Math.min(limit, limits.size);
  const reply = await commands.wasmsocketReadBuffer(META_PREFIX + topic, STREAM_PREFIX + topic,
    since === undefined ? -1 : since.offset, since?.epoch ?? '', capped, newEpoch(), limits.ttlMs, query.join === true ? 1 : 0);
  const position = { offset: Number(reply[0]), epoch: String(reply[1]) };
  const recovered = Number(reply[2]);
  const entries: HistoryEntry[] = [];
  for (let i = 3; i + 1 < reply.length; i += 2) {
    entries.push({ offset: Number.parseInt(String(reply[i]), 10), payload: reply[i + 1] as Buffer });
  }
  return recovered < 0 ? { position, entries } : { position, recovered: recovered === 1, entries };
}
