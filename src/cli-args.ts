/** Parsing and checking of `wasmsocket serve` arguments; no side effects, so tests can call it. */
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { DEFAULTS, type ServerOptions } from './server/server.js';
import { BACKPLANE_DEFAULTS } from './pubsub/redis-backplane.js';
import type { CodecKind } from './codec/codec.js';
import { canTransferSockets } from './pool/pool.js';
import { publicTopicError } from './pubsub/permissions.js';
import { firstLine, joinNegativeValues } from './arg-parsing.js';

export const USAGE = `Usage: wasmsocket serve [options]     a WebSocket server (see wasmsocket serve --help)
       wasmsocket load URL [options]    a load generator (see wasmsocket load --help)
       wasmsocket --version
`;

export const SERVE_USAGE = `Usage: wasmsocket serve [options]

Options:
  --host HOST            address to listen on (default ${DEFAULTS.host})
  --port PORT            TCP port, 0 for any free port (default ${DEFAULTS.port})
  --app echo|pubsub|PATH application to run (default ${DEFAULTS.app})
  --codec wasm|js        framing codec (default ${DEFAULTS.codec})
  --workers N            worker threads, each serving its own connections (socket I/O,
                         framing, application); 0 serves them on the main thread
                         (default: one per core, here ${defaultWorkers()}; 0 on Node < 24.22)
  --max-payload BYTES    largest message accepted, else close 1009 (default ${DEFAULTS.maxPayload});
                         with --deflate, the limit is on the inflated size
  --deflate              offer permessage-deflate compression (RFC 7692) to clients that
                         ask for it (default: off)
  --subprotocols a,b     subprotocols the server speaks, in preference order
  --origins URL,...      allowed Origin values (default: any)
  --path /PATH           only this path is upgraded, others get 404 (default: any path)
  --ping-interval S      ping a connection silent this long, 0 = no heartbeat (default ${DEFAULTS.pingIntervalMs / 1000})
  --ping-timeout S       then close it (1001) if it stays silent this long (default ${DEFAULTS.pingTimeoutMs / 1000})
  --idle-timeout S       close a connection with no data message this long, 0 = never (default 0)
  --idle-collect-after N after N connections opened or closed, collect garbage once the thread
                         is quiet, 0 = never (default ${DEFAULTS.idleCollectAfter})
  --max-connections N    open connections past which new ones get 503, 0 = no limit (default 0)
  --max-connections-per-ip N
                         open connections from one address past which new ones get 429 (default 0)
  --max-worker-external-memory BYTES
                         a worker holding more memory outside its JS heap (Buffers the app
                         keeps) is replaced, its connections dropped, 0 = no cap (default 0)
  --max-buffered-bytes BYTES
                         send queues of one thread's connections together: broadcasts are shed
                         by --slow-policy before it, past it the largest queues are dropped
                         (TCP ends, 1006), 0 = no limit (default ${DEFAULTS.maxBufferedBytes})
  --max-inflate-bytes BYTES
                         with --deflate, inflated output one thread holds at once for large
                         compressed messages; more waits its turn (default ${DEFAULTS.maxInflateBytes})
  --cert FILE --key FILE serve wss:// with this PEM certificate chain and key; SIGHUP
                         reloads them without a restart (default: plain ws://)
  --redis URL            redis://host:port joining several server nodes (default: none)
  --redis-ping-interval MS
                         PING Redis and publish this node's heartbeat this often (default ${BACKPLANE_DEFAULTS.pingIntervalMs})
  --redis-ping-timeout MS
                         a PING unanswered this long: Redis is stalled (default ${BACKPLANE_DEFAULTS.pingTimeoutMs})
  --slow-subscriber-bytes BYTES
                         socket queue above which a subscriber is slow (default ${DEFAULTS.slowSubscriberBytes})
  --slow-policy drop|close
                         slow subscribers: drop and count deliveries, or close with 1013
                         (default ${DEFAULTS.slowPolicy})
  --max-subscriptions N  subscriptions one connection may hold; more get the error
                         too_many_subscriptions (default ${DEFAULTS.maxSubscriptions})
  --max-total-subscriptions N
                         subscriptions one thread's connections may hold together
                         (default ${DEFAULTS.maxTotalSubscriptions})
  --max-subscriptions-per-ip N
                         subscriptions the connections from one address may hold together
                         on one thread (a worker, or the main thread inline), 0 = no limit
                         (default ${DEFAULTS.maxSubscriptionsPerIp})
  --history-size N       publishes kept per topic for recovery and history requests,
                         0 = no history and no offsets (default ${DEFAULTS.historySize})
  --history-ttl S        a topic's history is dropped this long after its last publish
                         (default ${DEFAULTS.historyTtlMs / 1000})
  --max-history-bytes BYTES
                         memory all topics' histories may take together; past it the topics
                         published least recently lose theirs first (default ${DEFAULTS.maxHistoryBytes})
  --topics-public a,b.*  topic prefixes any client may publish and subscribe to (unless the
                         app has canPublish/canSubscribe hooks); * is any one segment, and a
                         pattern must name its prefix segments; > is everything (default
                         ${DEFAULTS.topicsPublic.join(',')}: every topic, but no pattern starting with a wildcard)
  -h, --help             show this help
`;

/**
 * One worker per core: each owns its sockets, and the main thread only accepts, so every core
 * serves connections (measured by bench:workers). Node < 24.22 cannot move a socket to a
 * worker: inline there.
 */
export function defaultWorkers(): number {
  return canTransferSockets() ? availableParallelism() : 0;
}

/** A command-line mistake: reported in one line with the usage hint, exit code 2. */
export class UsageError extends Error {}

export interface ServeCommand {
  options: ServerOptions & { app: string; workers: number };
  /** --cert and --key: PEM files, read at start and again on SIGHUP. */
  certificateFiles?: { cert: string; key: string };
}

function parseInteger(name: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a whole number, got "${value}"`);
  const parsed = Number(value);
  if (parsed < min || parsed > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${value}`);
  return parsed;
}

/** A whole number of seconds (at least `min`) as milliseconds; `fallback` (ms) when not given. */
function seconds(name: string, value: string | undefined, fallback: number, min: number): number {
  return value === undefined ? fallback : parseInteger(name, value, min, 86_400) * 1000;
}

/** An optional whole number of milliseconds, 1 ms to a day; undefined keeps the default. */
function milliseconds(name: string, value: string | undefined): number | undefined {
  return value === undefined ? undefined : parseInteger(name, value, 1, 86_400_000);
}

function parseList(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(',').map((item) => item.trim()).filter((item) => item.length > 0);
}

export function parseServeArgs(args: string[]): ServeCommand {
  let values;
  try {
    ({ values } = parseArgs({
      args: joinNegativeValues(args),
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        app: { type: 'string' },
        codec: { type: 'string' },
        workers: { type: 'string' },
        'max-payload': { type: 'string' },
        deflate: { type: 'boolean' },
        subprotocols: { type: 'string' },
        origins: { type: 'string' },
        path: { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        'ping-interval': { type: 'string' },
        'ping-timeout': { type: 'string' },
        'idle-timeout': { type: 'string' },
        'idle-collect-after': { type: 'string' },
        'max-connections': { type: 'string' },
        'max-connections-per-ip': { type: 'string' },
        'max-buffered-bytes': { type: 'string' },
        'max-inflate-bytes': { type: 'string' },
        'max-worker-external-memory': { type: 'string' },
        redis: { type: 'string' },
        'redis-ping-interval': { type: 'string' },
        'redis-ping-timeout': { type: 'string' },
        'slow-subscriber-bytes': { type: 'string' },
        'slow-policy': { type: 'string' },
        'max-subscriptions': { type: 'string' },
        'max-total-subscriptions': { type: 'string' },
        'max-subscriptions-per-ip': { type: 'string' },
        'topics-public': { type: 'string' },
        'history-size': { type: 'string' },
        'history-ttl': { type: 'string' },
        'max-history-bytes': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError(firstLine((error as Error).message));
  }
  if (values.help) throw new HelpRequested();
  const codec = values.codec ?? DEFAULTS.codec;
  if (codec !== 'wasm' && codec !== 'js') throw new UsageError(`--codec must be "wasm" or "js", got "${codec}"`);
  const workers = values.workers === undefined ? defaultWorkers() : parseInteger('workers', values.workers, 0, 256);
  const origins = parseList(values.origins);
  for (const origin of origins) {
    if (!URL.canParse(origin)) throw new UsageError(`--origins: "${origin}" is not a URL`);
  }
  const path = values.path;
  if (path !== undefined && !/^\/[^\s?#]*$/.test(path)) throw new UsageError(`--path must start with / and have no spaces, ? or #, got "${path}"`);
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError('--cert and --key go together');
  const redis = values.redis;
  if (redis !== undefined && !/^rediss?:\/\/[^/\s]+/.test(redis)) {
    throw new UsageError(`--redis must look like redis://host:port, got "${redis}"`);
  }
  const slowPolicy = values['slow-policy'] ?? DEFAULTS.slowPolicy;
  if (slowPolicy !== 'drop' && slowPolicy !== 'close') throw new UsageError(`--slow-policy must be "drop" or "close", got "${slowPolicy}"`);
  const topicsPublic = values['topics-public'] === undefined ? DEFAULTS.topicsPublic : parseList(values['topics-public']);
  for (const prefix of topicsPublic) {
    const error = publicTopicError(prefix);
    if (error !== undefined) throw new UsageError(`--topics-public: "${prefix}" is not a topic prefix (${error})`);
  }
  return {
    certificateFiles: values.cert === undefined ? undefined : { cert: values.cert, key: values.key! },
    options: {
      host: values.host ?? DEFAULTS.host,
      port: values.port === undefined ? DEFAULTS.port : parseInteger('port', values.port, 0, 65535),
      app: values.app ?? DEFAULTS.app,
      codec: codec as CodecKind,
      workers,
      maxPayload: values['max-payload'] === undefined ? DEFAULTS.maxPayload : parseInteger('max-payload', values['max-payload'], 1, 2 ** 31 - 1),
      deflate: values.deflate === true,
      subprotocols: parseList(values.subprotocols),
      origins,
      path,
      pingIntervalMs: seconds('ping-interval', values['ping-interval'], DEFAULTS.pingIntervalMs, 0),
      pingTimeoutMs: seconds('ping-timeout', values['ping-timeout'], DEFAULTS.pingTimeoutMs, 1),
      idleTimeoutMs: seconds('idle-timeout', values['idle-timeout'], DEFAULTS.idleTimeoutMs, 0),
      idleCollectAfter: values['idle-collect-after'] === undefined ? DEFAULTS.idleCollectAfter
        : parseInteger('idle-collect-after', values['idle-collect-after'], 0, 10_000_000),
      maxConnections: values['max-connections'] === undefined ? DEFAULTS.maxConnections
        : parseInteger('max-connections', values['max-connections'], 0, 10_000_000),
      maxConnectionsPerIp: values['max-connections-per-ip'] === undefined ? DEFAULTS.maxConnectionsPerIp
        : parseInteger('max-connections-per-ip', values['max-connections-per-ip'], 0, 10_000_000),
      maxBufferedBytes: values['max-buffered-bytes'] === undefined ? DEFAULTS.maxBufferedBytes
        : parseInteger('max-buffered-bytes', values['max-buffered-bytes'], 0, Number.MAX_SAFE_INTEGER),
      maxInflateBytes: values['max-inflate-bytes'] === undefined ? DEFAULTS.maxInflateBytes
        : parseInteger('max-inflate-bytes', values['max-inflate-bytes'], 1, Number.MAX_SAFE_INTEGER),
      maxWorkerExternalMemory: values['max-worker-external-memory'] === undefined ? DEFAULTS.maxWorkerExternalMemory
        : parseInteger('max-worker-external-memory', values['max-worker-external-memory'], 0, Number.MAX_SAFE_INTEGER),
      redis,
      redisPingIntervalMs: milliseconds('redis-ping-interval', values['redis-ping-interval']),
      redisPingTimeoutMs: milliseconds('redis-ping-timeout', values['redis-ping-timeout']),
      slowPolicy,
      slowSubscriberBytes: values['slow-subscriber-bytes'] === undefined
        ? DEFAULTS.slowSubscriberBytes
        : parseInteger('slow-subscriber-bytes', values['slow-subscriber-bytes'], 1, 2 ** 31 - 1),
      maxSubscriptions: values['max-subscriptions'] === undefined ? DEFAULTS.maxSubscriptions
        : parseInteger('max-subscriptions', values['max-subscriptions'], 1, 10_000_000),
      maxTotalSubscriptions: values['max-total-subscriptions'] === undefined ? DEFAULTS.maxTotalSubscriptions
        : parseInteger('max-total-subscriptions', values['max-total-subscriptions'], 1, 1_000_000_000),
      maxSubscriptionsPerIp: values['max-subscriptions-per-ip'] === undefined ? DEFAULTS.maxSubscriptionsPerIp
        : parseInteger('max-subscriptions-per-ip', values['max-subscriptions-per-ip'], 0, 1_000_000_000),
      topicsPublic,
      historySize: values['history-size'] === undefined ? DEFAULTS.historySize
        : parseInteger('history-size', values['history-size'], 0, 10_000_000),
      historyTtlMs: seconds('history-ttl', values['history-ttl'], DEFAULTS.historyTtlMs, 1),
      maxHistoryBytes: values['max-history-bytes'] === undefined ? DEFAULTS.maxHistoryBytes
        : parseInteger('max-history-bytes', values['max-history-bytes'], 0, Number.MAX_SAFE_INTEGER),
    },
  };
}

/** `--help` was given: print the usage and exit 0. */
export class HelpRequested extends Error {}
