/**
 * The server's options, each declared once: its kind, default, bounds or allowed values, one
 * line of doc, which threads use it, and its `wasmsocket serve` flag. From this table come the
 * `ServerOptions` type, the checks `listen()` makes, the frozen `DEFAULTS`, the settings every
 * connection server (a worker's included) is given, the CLI's flags, environment variables and
 * usage text (cli-args.ts), and the test that holds docs/api.md to it.
 *
 * Adding an option is one entry here; a `scope: 'thread'` one reaches `ConnectionSettings`
 * (and so every worker) by itself, and one with a `cli` entry is a flag and a variable too.
 */
import type { CodecKind } from '../codec/codec.js';
import type { Utf8ValidatorChoice } from '../protocol/protocol.js';
import type { Application, AuthorizeHook } from '../apps/app.js';
import type { SlowSubscriberPolicy } from '../pubsub/broker.js';
import { DEFAULT_PUBLIC_TOPICS, publicTopicError } from '../pubsub/permissions.js';
import { BACKPLANE_DEFAULTS } from '../pubsub/redis-backplane.js';
import { resolveDeflateOptions, type DeflateOptions, type DeflateSettings } from '../extensions/deflate-options.js';
import { checkedCertificate, type TlsCertificate } from './certificate.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../logging/logger.js';

export type OptionKind = 'integer' | 'string' | 'enum' | 'boolean' | 'list' | 'function' | 'value';

/** An option's `wasmsocket serve` flag; the environment variable WASMSOCKET_<FLAG> sets it too. */
export interface CliFlag {
  /** The flag without its dashes (`max-payload`). */
  readonly flag: string;
  /** The value's placeholder in the usage text; a boolean option's flag takes none. */
  readonly arg?: string;
  /** The flag takes seconds where the option takes milliseconds. */
  readonly seconds?: boolean;
}

export interface OptionSpec<T = unknown, R = T> {
  readonly kind: OptionKind;
  /** One line: what it does (the usage text and the docs' meaning column start from it). */
  readonly doc: string;
  /** 'thread': every connection server is given it (each worker a copy); 'node': the main thread's alone. */
  readonly scope: 'node' | 'thread';
  readonly default?: T;
  /** Integers: the smallest and largest value allowed. */
  readonly min?: number;
  readonly max?: number;
  /** Enums: the values allowed. */
  readonly values?: readonly string[];
  /** Why the whole value is refused ("must look like redis://host:port"), or undefined. */
  readonly check?: (value: T) => string | undefined;
  /** Lists: what the items are, in messages (strings when unset). */
  readonly items?: string;
  /** Lists: why one item is refused ("is not a URL"), or undefined. */
  readonly checkItem?: (item: string) => string | undefined;
  /** What the server keeps of the checked value (or of the default when it is not given). */
  readonly resolve?: (value: T | undefined) => R;
  readonly cli?: CliFlag;
  /** Type only: the option's value and what the server keeps of it. */
  readonly __value?: T;
  readonly __resolved?: R;
}

/** An entry of the table, of value type T (kept as `R` by the server), with its literal fields kept. */
function typed<T, R = T>(kind: OptionKind) {
  return <const S extends Omit<OptionSpec<T, R>, 'kind'>>(spec: S): S & OptionSpec<T, R> => ({ ...spec, kind }) as S & OptionSpec<T, R>;
}
const integer = typed<number>('integer');
const text = typed<string>('string');
const bool = typed<boolean>('boolean');
const strings = typed<readonly string[]>('list');

const DAY_MS = 86_400_000;
const ANY_SIZE = Number.MAX_SAFE_INTEGER;

export const OPTIONS = {
  host: text({ scope: 'node', default: '127.0.0.1', doc: 'address to listen on', cli: { flag: 'host', arg: 'HOST' } }),
  port: integer({ scope: 'node', default: 8080, min: 0, max: 65535, doc: 'TCP port, 0 for any free port', cli: { flag: 'port', arg: 'PORT' } }),
  app: typed<string | Application>('value')({
    scope: 'node', default: 'pubsub',
    check: (value) => (typeof value === 'string' || (value !== null && typeof value === 'object') ? undefined : 'must be a name, a module path or an application object'),
    doc: 'application to run: echo, pubsub or the path of a module', cli: { flag: 'app', arg: 'echo|pubsub|PATH' },
  }),
  codec: typed<CodecKind>('enum')({ scope: 'thread', default: 'wasm', values: ['wasm', 'js'], doc: 'framing codec', cli: { flag: 'codec' } }),
  workers: integer({
    scope: 'node', default: 0, min: 0, max: 256, cli: { flag: 'workers', arg: 'N' },
    doc: 'worker threads, each serving its own connections (socket I/O, framing, application); 0 serves them on the main thread',
  }),
  utf8Validator: typed<Utf8ValidatorChoice>('enum')({
    scope: 'thread', default: 'native', values: ['native', 'codec'],
    doc: "UTF-8 check of text messages: 'native' (isUtf8 or streaming, per segment) or the codec's own scan",
  }),
  maxPayload: integer({
    scope: 'thread', default: 16 * 1024 * 1024, min: 1, max: 2 ** 31 - 1, cli: { flag: 'max-payload', arg: 'BYTES' },
    doc: 'largest message accepted, else close 1009; with deflate, the limit is on the inflated size',
  }),
  messageView: bool({
    scope: 'thread', default: false, cli: { flag: 'message-view' },
    doc: "a message handler's data is a view of the bytes read, valid only during the call: no copy per message; copy what you keep (sending it is safe)",
  }),
  deflate: typed<boolean | DeflateOptions, DeflateSettings | undefined>('value')({
    scope: 'thread', default: false, resolve: resolveDeflateOptions, cli: { flag: 'deflate' },
    doc: 'offer permessage-deflate compression (RFC 7692) to clients that ask for it',
  }),
  subprotocols: strings({ scope: 'thread', default: [], doc: 'subprotocols the server speaks, in preference order', cli: { flag: 'subprotocols', arg: 'a,b' } }),
  origins: strings({
    scope: 'thread', default: [], items: 'URLs', checkItem: (origin) => (URL.canParse(origin) ? undefined : 'is not a URL'),
    doc: 'allowed Origin values, others get 403; none: any origin', cli: { flag: 'origins', arg: 'URL,...' },
  }),
  path: text({
    scope: 'thread', check: (path) => (/^\/[^\s?#]*$/.test(path) ? undefined : 'must be a string starting with "/", without spaces, ? or #'),
    doc: 'only this path is upgraded, others get 404; unset: any path', cli: { flag: 'path', arg: '/PATH' },
  }),
  authorize: typed<AuthorizeHook>('function')({ scope: 'node', doc: 'runs at every handshake, on the main thread (in worker mode by a round trip from the worker)' }),
  tls: typed<{ cert: string | Buffer; key: string | Buffer }, TlsCertificate | undefined>('value')({
    scope: 'thread', resolve: checkedCertificate,
    check: (value) => (value !== null && typeof value === 'object' ? undefined : 'must be an object { cert, key }'),
    doc: 'serve wss:// with this certificate chain and private key (PEM); see setCertificate()',
  }),
  handshakeTimeoutMs: integer({ scope: 'thread', default: 10_000, min: 1, doc: 'time from TCP accept to a finished handshake, else TCP dropped' }),
  maxHeaderBytes: integer({ scope: 'thread', default: 16 * 1024, min: 1, doc: 'request header bytes above which the handshake gets 431' }),
  closeTimeoutMs: integer({ scope: 'thread', default: 5_000, min: 1, doc: "after our close frame, wait this long for the peer's close or FIN, then drop TCP" }),
  highWaterMark: integer({ scope: 'thread', default: 1024 * 1024, min: 1, doc: 'a connection\'s send queue above which it is no longer read from (its hard cap: this + maxPayload)' }),
  maxBufferedBytes: integer({
    scope: 'thread', default: 512 * 1024 * 1024, min: 0, max: ANY_SIZE, cli: { flag: 'max-buffered-bytes', arg: 'BYTES' },
    doc: 'send queues of one thread\'s connections together: broadcasts are shed by the slow policy before it, past it the largest queues are dropped (TCP ends, 1006), 0 = no limit',
  }),
  maxInflateBytes: integer({
    scope: 'thread', default: 64 * 1024 * 1024, min: 1, max: ANY_SIZE, cli: { flag: 'max-inflate-bytes', arg: 'BYTES' },
    doc: 'with deflate, inflated output one thread holds at once for large compressed messages; more waits its turn',
  }),
  pingIntervalMs: integer({
    scope: 'thread', default: 30_000, min: 0, max: DAY_MS, cli: { flag: 'ping-interval', arg: 'S', seconds: true },
    doc: 'ping a connection silent (no bytes at all) this long, 0 = no heartbeat',
  }),
  pingTimeoutMs: integer({
    scope: 'thread', default: 10_000, min: 1, max: DAY_MS, cli: { flag: 'ping-timeout', arg: 'S', seconds: true },
    doc: 'then close it (1001) and drop TCP if it stays silent this long',
  }),
  idleTimeoutMs: integer({
    scope: 'thread', default: 0, min: 0, max: DAY_MS, cli: { flag: 'idle-timeout', arg: 'S', seconds: true },
    doc: 'close a connection with no data message this long (1001), 0 = never',
  }),
  idleCollectAfter: integer({
    scope: 'thread', default: 1000, min: 0, max: 10_000_000, cli: { flag: 'idle-collect-after', arg: 'N' },
    doc: 'after N connections opened or closed, collect garbage once the thread is quiet, 0 = never',
  }),
  maxConnections: integer({
    scope: 'node', default: 0, min: 0, max: 10_000_000, cli: { flag: 'max-connections', arg: 'N' },
    doc: 'open connections past which new ones get 503, 0 = no limit',
  }),
  maxConnectionsPerIp: integer({
    scope: 'node', default: 0, min: 0, max: 10_000_000, cli: { flag: 'max-connections-per-ip', arg: 'N' },
    doc: 'open connections from one address past which new ones get 429, 0 = no limit',
  }),
  workerHeartbeatTimeoutMs: integer({ scope: 'node', default: 5_000, min: 1, doc: 'a worker that does not answer its heartbeat for this long is terminated and replaced' }),
  maxWorkerExternalMemory: integer({
    scope: 'thread', default: 0, min: 0, max: ANY_SIZE, cli: { flag: 'max-worker-external-memory', arg: 'BYTES' },
    doc: 'a worker holding more memory outside its JS heap (Buffers the app keeps) is replaced, its connections dropped, 0 = no cap',
  }),
  redis: text({
    scope: 'node', check: (url) => (/^rediss?:\/\/[^/\s]+/.test(url) ? undefined : 'must look like redis://host:port'),
    doc: 'redis://host:port joining several server nodes; unset: none', cli: { flag: 'redis', arg: 'URL' },
  }),
  redisPingIntervalMs: integer({
    scope: 'node', default: BACKPLANE_DEFAULTS.pingIntervalMs, min: 1, max: DAY_MS, cli: { flag: 'redis-ping-interval', arg: 'MS' },
    doc: "PING Redis and publish this node's heartbeat this often",
  }),
  redisPingTimeoutMs: integer({
    scope: 'node', default: BACKPLANE_DEFAULTS.pingTimeoutMs, min: 1, max: DAY_MS, cli: { flag: 'redis-ping-timeout', arg: 'MS' },
    doc: 'a PING unanswered this long: Redis is stalled',
  }),
  slowSubscriberBytes: integer({
    scope: 'thread', default: 4 * 1024 * 1024, min: 1, max: 2 ** 31 - 1, cli: { flag: 'slow-subscriber-bytes', arg: 'BYTES' },
    doc: 'socket queue above which a subscriber is slow',
  }),
  slowPolicy: typed<SlowSubscriberPolicy>('enum')({
    scope: 'thread', default: 'drop', values: ['drop', 'close'], cli: { flag: 'slow-policy' },
    doc: 'slow subscribers: drop and count their deliveries, or close them with 1013',
  }),
  maxSubscriptions: integer({
    scope: 'thread', default: 1000, min: 1, max: 10_000_000, cli: { flag: 'max-subscriptions', arg: 'N' },
    doc: 'subscriptions one connection may hold; more get the error too_many_subscriptions',
  }),
  maxTotalSubscriptions: integer({
    scope: 'thread', default: 100_000, min: 1, max: 1_000_000_000, cli: { flag: 'max-total-subscriptions', arg: 'N' },
    doc: "subscriptions one thread's connections may hold together",
  }),
  maxSubscriptionsPerIp: integer({
    scope: 'thread', default: 10_000, min: 0, max: 1_000_000_000, cli: { flag: 'max-subscriptions-per-ip', arg: 'N' },
    doc: 'subscriptions the connections from one address may hold together on one thread, 0 = no limit',
  }),
  topicsPublic: strings({
    scope: 'thread', default: DEFAULT_PUBLIC_TOPICS, items: 'topic prefixes', cli: { flag: 'topics-public', arg: 'a,b.*' },
    checkItem: (prefix) => { const error = publicTopicError(prefix); return error === undefined ? undefined : `is not a topic prefix (${error})`; },
    doc: 'topic prefixes any client may publish and subscribe to when the app has no canPublish/canSubscribe hooks; * is any one segment, > everything; * alone: every topic, but no pattern starting with a wildcard',
  }),
  historySize: integer({
    scope: 'node', default: 100, min: 0, max: 10_000_000, cli: { flag: 'history-size', arg: 'N' },
    doc: 'pub/sub JSON publishes each topic keeps for recovery and history requests, 0 = no history and no offsets',
  }),
  historyTtlMs: integer({
    scope: 'node', default: 300_000, min: 1, max: DAY_MS, cli: { flag: 'history-ttl', arg: 'S', seconds: true },
    doc: "a topic's history is dropped this long after its last publish (its epoch changes)",
  }),
  maxHistoryBytes: integer({
    scope: 'node', default: 64 * 1024 * 1024, min: 0, max: ANY_SIZE, cli: { flag: 'max-history-bytes', arg: 'BYTES' },
    doc: "memory all topics' histories may take on a node (each message's bytes + 160); past it the topics published least recently lose theirs first",
  }),
  noServer: bool({ scope: 'node', default: false, doc: 'no listener of our own: upgrades come through handleUpgrade() from another HTTP server' }),
  onError: typed<(error: Error) => void>('function')({ scope: 'node', doc: 'reports application exceptions and other per-connection failures; logged when unset' }),
  log: typed<(line: string) => void>('function')({
    scope: 'node', doc: 'takes each log line (formatted by logFormat, no newline) instead of the default: debug and info to stdout, warn and error to stderr',
  }),
  logFormat: typed<LogFormat>('enum')({
    scope: 'node', default: 'text', values: LOG_FORMATS, cli: { flag: 'log-format' },
    doc: 'log lines as readable text or one JSON object each (time, level, event and its fields)',
  }),
  logLevel: typed<LogLevel>('enum')({
    scope: 'node', default: 'info', values: LOG_LEVELS, cli: { flag: 'log-level' },
    doc: 'the least severe level logged',
  }),
  metricsPort: integer({
    scope: 'node', min: 0, max: 65535, cli: { flag: 'metrics-port', arg: 'PORT' },
    doc: 'serve GET /metrics (Prometheus text format) on this port, bound to the host like the server, 0 for any free port; unset: no metrics',
  }),
};

type Table = typeof OPTIONS;
export type OptionName = keyof Table;
type ValueOf<S> = S extends { readonly __value?: infer T } ? Exclude<T, undefined> : never;
type Kept<S> = S extends { readonly resolve: (value: never) => infer R } ? R
  : S extends { readonly default: unknown } ? ValueOf<S> : ValueOf<S> | undefined;

/** What `listen()` takes: every option optional. */
export type ServerOptions = { [K in OptionName]?: ValueOf<Table[K]> };

/** Every option after its default and its resolution (deflate's settings, the loaded certificate). */
export type ResolvedOptions = { -readonly [K in OptionName]: Kept<Table[K]> };

type ThreadOption = { [K in OptionName]: Table[K] extends { readonly scope: 'thread' } ? K : never }[OptionName];
/** The settings every connection server of a node shares: plain data, so a worker gets a copy. */
export type ConnectionSettings = Pick<ResolvedOptions, ThreadOption>;

type Defaulted = { [K in OptionName]: Table[K] extends { readonly default: unknown } ? K : never }[OptionName];
export const DEFAULTS = Object.freeze(Object.fromEntries(
  // A list default is frozen too: every server that is not given the option shares it.
  specs().filter(([, spec]) => spec.default !== undefined).map(([name, spec]) => [name, Array.isArray(spec.default) ? Object.freeze(spec.default) : spec.default]),
)) as { readonly [K in Defaulted]: ValueOf<Table[K]> };

/** The table as [name, spec] pairs, in its order. */
export function specs(): [OptionName, OptionSpec][] {
  return Object.entries(OPTIONS) as [OptionName, OptionSpec][];
}

/** How a value is quoted in a message. */
function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** `"a" or "b"`, `"a", "b" or "c"`. */
export function alternatives(values: readonly string[]): string {
  const quoted = values.map((value) => `"${value}"`);
  return quoted.length < 2 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
}

/**
 * Why `value` is not a valid value of the option, as a message starting with `label` (`option
 * maxPayload`, `--max-payload`, `WASMSOCKET_MAX_PAYLOAD`); undefined when it is. Integers are
 * checked here as numbers; the CLI reads their digits itself.
 */
export function optionError(spec: OptionSpec, value: unknown, label: string): string | undefined {
  switch (spec.kind) {
    case 'integer': {
      const min = spec.min ?? 0;
      const range = `≥ ${min}${spec.max === undefined || spec.max === ANY_SIZE ? '' : ` and ≤ ${spec.max}`}`;
      if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > (spec.max ?? ANY_SIZE)) {
        return `${label} must be a whole number ${range}, got ${shown(value)}`;
      }
      return undefined;
    }
    case 'enum':
      return spec.values!.includes(value as string) ? undefined : `${label} must be ${alternatives(spec.values!)}, got ${shown(value)}`;
    case 'string':
      if (typeof value !== 'string') return `${label} must be a string, got ${shown(value)}`;
      break;
    case 'boolean':
      if (typeof value !== 'boolean') return `${label} must be true or false, got ${shown(value)}`;
      break;
    case 'function':
      if (typeof value !== 'function') return `${label} must be a function`;
      break;
    case 'list':
      if (!Array.isArray(value)) return `${label} must be an array of ${spec.items ?? 'strings'}`;
      for (const item of value) {
        if (typeof item !== 'string') return `${label} must be an array of ${spec.items ?? 'strings'}, got ${shown(item)} in it`;
        const why = spec.checkItem?.(item);
        if (why !== undefined) return `${label}: "${item}" ${why}`;
      }
      break;
    case 'value':
      break;
  }
  const why = spec.check?.(value);
  return why === undefined ? undefined : `${label} ${why}${spec.kind === 'string' ? `, got ${shown(value)}` : ''}`;
}

/**
 * Checks options up front: an unknown name (a typo, another library's option), a value of the
 * wrong type, a number out of range or a value not among those allowed is a TypeError naming it.
 */
export function validateOptions(options: ServerOptions): void {
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const spec = (OPTIONS as Record<string, OptionSpec>)[name];
    if (spec === undefined) throw new TypeError(`unknown option "${name}"`);
    const error = optionError(spec, value, `option ${name}`);
    if (error !== undefined) throw new TypeError(error);
  }
  if (options.noServer === true && (options.workers ?? DEFAULTS.workers) > 0) {
    throw new TypeError('noServer serves handleUpgrade() on the calling thread: it takes workers: 0');
  }
}

/** Checked options with their defaults filled in and resolved. */
export function resolveOptions(options: ServerOptions): ResolvedOptions {
  validateOptions(options);
  const resolved: Record<string, unknown> = {};
  for (const [name, spec] of specs()) {
    const value = options[name] ?? spec.default;
    resolved[name] = spec.resolve === undefined ? value : spec.resolve(value);
  }
  return resolved as ResolvedOptions;
}

/** The part of the options every connection server is given (a worker's copy crosses threads). */
export function connectionSettings(options: ResolvedOptions): ConnectionSettings {
  const settings: Record<string, unknown> = {};
  for (const [name, spec] of specs()) if (spec.scope === 'thread') settings[name] = options[name];
  return settings as ConnectionSettings;
}
