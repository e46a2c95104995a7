/**
 * Joins several server nodes through Redis pub/sub (ioredis, two connections: one publishes,
 * one subscribes). A node holds Redis subscriptions only for the patterns it has local
 * subscribers for: an exact pattern is a SUBSCRIBE to `wasmsocket:<topic>`; a wildcard pattern is
 * a PSUBSCRIBE to a glob that may over-match (`*` crosses dots), so incoming topics are checked
 * again against the exact pattern set.
 *
 * Message on the wire (one Buffer):
 *   [version u8 = 1][flags u8: bit0 binary][nodeId length u8][nodeId UTF-8][seq u64 BE][payload]
 * A node ignores its own messages (it delivered them locally already). Redis delivers one copy
 * per matching SUBSCRIBE/PSUBSCRIBE of the connection, all before the next PUBLISH, and keeps
 * each publisher connection's order: so a message whose seq is not above the last seen from its
 * origin is a copy, dropped and counted in `duplicates`; `onMessage` runs once per publish.
 */
import { Redis } from 'ioredis';
import { SubscriptionIndex, topicError } from './topics.js';

export type BackplaneState = 'connecting' | 'ready' | 'down' | 'closed';

export interface BackplaneOptions {
  /** redis://host:port */
  url: string;
  /** Unique per server process (e.g. randomUUID()); at most 255 bytes of UTF-8. */
  nodeId: string;
  /** A publish from another node; called once per publish. */
  onMessage: (topic: string, payload: Buffer, isBinary: boolean) => void;
  /** State changes, one line per transition; default console.error. */
  log?: (line: string) => void;
}

export interface BackplaneStats {
  /** Messages Redis accepted from this node. */
  published: number;
  /** Messages from other nodes handed to onMessage. */
  received: number;
  /** Publishes not sent: Redis down (there is no offline queue), or the PUBLISH failed. */
  dropped: number;
  /** Extra copies of a message (overlapping subscriptions, a resend after a reconnect). */
  duplicates: number;
}

const CHANNEL_PREFIX = 'wasmsocket:';
const CHANNEL_PREFIX_BYTES = Buffer.byteLength(CHANNEL_PREFIX);
const VERSION = 1;
const FLAG_BINARY = 1;
/** version, flags, nodeId length. */
const FIXED_HEADER = 3;
const SEQ_BYTES = 8;
const TWO_POW_32 = 2 ** 32;
const MAX_RETRY_DELAY_MS = 1000;
/**
 * PUBLISHes written but not yet acknowledged, in bytes, above which publishes are dropped: a
 * Redis that stalls without closing the socket (SIGSTOP, a partition) must not make memory grow.
 */
export const MAX_IN_FLIGHT_BYTES = 16 * 1024 * 1024;
/** A publisher with PUBLISHes unanswered this long is considered dead and reconnects. */
const PUBLISH_REPLY_TIMEOUT_MS = 5000;

/** How a pattern is subscribed in Redis. */
interface RedisSubscription {
  readonly kind: 'channel' | 'glob';
  readonly name: string;
}

export class RedisBackplane {
  readonly stats: BackplaneStats = { published: 0, received: 0, dropped: 0, duplicates: 0 };
  readonly #options: BackplaneOptions;
  readonly #log: (line: string) => void;
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #nodeIdBytes: Buffer;
  /** The patterns with local subscribers (each with one dummy subscriber): the exact re-check. */
  readonly #patterns = new SubscriptionIndex<true>();
  /** Redis subscriptions we want → how many patterns need each (`a.*` and `a.>` share a glob). */
  readonly #wanted = new Map<string, { subscription: RedisSubscription; patterns: number }>();
  /** Unsubscribes that may not have reached Redis; retried on the next 'ready'. */
  readonly #maybeSubscribed = new Map<string, RedisSubscription>();
  /** Origin nodeId → the highest seq seen from it. */
  readonly #lastSeq = new Map<string, number>();
  #seq = 0;
  #inFlightBytes = 0;
  #state: BackplaneState = 'connecting';
  #publisherReady = false;
  #subscriberReady = false;
  #lastError = '';
  #warnedMalformed = false;

  constructor(options: BackplaneOptions) {
    if (typeof options?.url !== 'string' || !/^rediss?:\/\//.test(options.url)) {
      throw new TypeError('options.url must be a redis:// or rediss:// URL');
    }
    if (typeof options.nodeId !== 'string' || options.nodeId.length === 0 || Buffer.byteLength(options.nodeId) > 255) {
      throw new TypeError('options.nodeId must be a non-empty string of at most 255 bytes');
    }
    if (typeof options.onMessage !== 'function') throw new TypeError('options.onMessage must be a function');
    if (options.log !== undefined && typeof options.log !== 'function') throw new TypeError('options.log must be a function');
    this.#options = options;
    this.#log = options.log ?? ((line) => console.error(line));
    this.#nodeIdBytes = Buffer.from(options.nodeId, 'utf8');

    const common = {
      lazyConnect: true,
      // No offline queue: a publish while Redis is down is dropped and counted, and
      // subscriptions are (re)sent from #wanted on every 'ready', so nothing needs queueing.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 10), MAX_RETRY_DELAY_MS),
      autoResubscribe: true,
    };
    this.#publisher = new Redis(options.url, { ...common, connectionName: 'wasmsocket-pub', socketTimeout: PUBLISH_REPLY_TIMEOUT_MS });
    this.#subscriber = new Redis(options.url, { ...common, connectionName: 'wasmsocket-sub' });

    this.#watch(this.#publisher, (ready) => { this.#publisherReady = ready; });
    this.#watch(this.#subscriber, (ready) => { this.#subscriberReady = ready; });
    this.#subscriber.on('ready', () => this.#resubscribe());
    this.#subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#receive(channel, message));
    this.#subscriber.on('pmessageBuffer', (_glob: unknown, channel: Buffer, message: Buffer) => this.#receive(channel, message));

    // connect() rejects when the first attempt fails; retryStrategy keeps trying regardless.
    this.#publisher.connect().catch(() => {});
    this.#subscriber.connect().catch(() => {});
  }

  get state(): BackplaneState {
    return this.#state;
  }

  /** Subscribes this node to `pattern` in Redis (the broker calls it on the first local subscriber). */
  addPattern(pattern: string): void {
    const error = topicError(pattern, true);
    if (error !== undefined) throw new TypeError(`invalid subscription pattern ${JSON.stringify(pattern)}: ${error}`);
    if (this.#state === 'closed' || !this.#patterns.add(pattern, true)) return;
    const subscription = redisSubscription(pattern);
    const wanted = this.#wanted.get(subscription.name);
    if (wanted !== undefined) {
      wanted.patterns++;
      return;
    }
    this.#wanted.set(subscription.name, { subscription, patterns: 1 });
    this.#maybeSubscribed.delete(subscription.name);
    // While not ready this fails at once (no offline queue); the next 'ready' subscribes it.
    this.#send(subscription, true).catch(() => {});
  }

  /** Unsubscribes this node from `pattern` (the broker calls it when the last local subscriber goes). */
  removePattern(pattern: string): void {
    if (!this.#patterns.remove(pattern, true)) return;
    const subscription = redisSubscription(pattern);
    const wanted = this.#wanted.get(subscription.name);
    if (wanted === undefined || --wanted.patterns > 0) return;
    this.#wanted.delete(subscription.name);
    if (this.#state === 'closed') return;
    this.#send(subscription, false).catch(() => {
      // ioredis's autoResubscribe may restore it after a reconnect: undo it then.
      if (!this.#wanted.has(subscription.name)) this.#maybeSubscribed.set(subscription.name, subscription);
    });
  }

  /** Sends a publish to the other nodes. Never throws; while Redis is down it is dropped and counted. */
  publish(topic: string, payload: Uint8Array, isBinary: boolean): void {
    if (this.#state === 'closed' || this.#publisher.status !== 'ready') {
      this.stats.dropped++;
      return;
    }
    const size = FIXED_HEADER + this.#nodeIdBytes.length + SEQ_BYTES + payload.length;
    if (this.#inFlightBytes > 0 && this.#inFlightBytes + size > MAX_IN_FLIGHT_BYTES) {
      this.stats.dropped++;
      return;
    }
    try {
      const reply = this.#publisher.publish(CHANNEL_PREFIX + topic, this.#encode(payload, isBinary));
      this.#inFlightBytes += size;
      reply.then(
        () => {
          this.#inFlightBytes -= size;
          this.stats.published++;
        },
        () => {
          this.#inFlightBytes -= size;
          this.stats.dropped++;
        },
      );
    } catch {
      this.stats.dropped++;
    }
  }

  /** Disconnects both connections; publishes after this are dropped. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#setState('closed');
    await Promise.all([disconnect(this.#publisher), disconnect(this.#subscriber)]);
  }

  #encode(payload: Uint8Array, isBinary: boolean): Buffer {
    const id = this.#nodeIdBytes;
    const header = FIXED_HEADER + id.length + SEQ_BYTES;
    const message = Buffer.allocUnsafe(header + payload.length);
    message[0] = VERSION;
    message[1] = isBinary ? FLAG_BINARY : 0;
    message[2] = id.length;
    id.copy(message, FIXED_HEADER);
    // seq as u64 BE from a JS number: exact up to 2^53, far beyond any process's publish count.
    const seq = ++this.#seq;
    message.writeUInt32BE(Math.floor(seq / TWO_POW_32), FIXED_HEADER + id.length);
    message.writeUInt32BE(seq >>> 0, FIXED_HEADER + id.length + 4);
    message.set(payload, header);
    return message;
  }

  #receive(channel: Buffer, message: Buffer): void {
    if (this.#state === 'closed') return;
    const idLength = message.length >= FIXED_HEADER ? message[2]! : 0;
    const header = FIXED_HEADER + idLength + SEQ_BYTES;
    if (message.length < header || message[0] !== VERSION || idLength === 0 || channel.length <= CHANNEL_PREFIX_BYTES) {
      if (!this.#warnedMalformed) {
        this.#warnedMalformed = true;
        this.#log('redis backplane: ignoring malformed message(s) on the wasmsocket: channels');
      }
      return;
    }
    if (idLength === this.#nodeIdBytes.length
      && this.#nodeIdBytes.equals(message.subarray(FIXED_HEADER, FIXED_HEADER + idLength))) return;
    const origin = message.toString('utf8', FIXED_HEADER, FIXED_HEADER + idLength);
    const seq = message.readUInt32BE(FIXED_HEADER + idLength) * TWO_POW_32 + message.readUInt32BE(FIXED_HEADER + idLength + 4);
    const last = this.#lastSeq.get(origin);
    if (last !== undefined && seq <= last) {
      this.stats.duplicates++;
      return;
    }
    const topic = channel.toString('utf8', CHANNEL_PREFIX_BYTES);
    // Globs over-match; and a message may arrive for a pattern removed a moment ago.
    if (this.#patterns.match(topic, ignore) === 0) return;
    this.#lastSeq.set(origin, seq);
    this.stats.received++;
    try {
      this.#options.onMessage(topic, message.subarray(header), (message[1]! & FLAG_BINARY) !== 0);
    } catch (error) {
      this.#log(`redis backplane: onMessage threw: ${(error as Error)?.stack ?? error}`);
    }
  }

  /**
   * On every subscriber 'ready': ioredis's autoResubscribe restores what was confirmed before the
   * connection dropped, but not subscriptions added while it was down (or before the first
   * ready), and it restores ones removed while down. So subscribe all of #wanted (harmless for
   * channels already subscribed) and unsubscribe the leftovers.
   */
  #resubscribe(): void {
    const channels: string[] = [];
    const globs: string[] = [];
    for (const { subscription } of this.#wanted.values()) (subscription.kind === 'channel' ? channels : globs).push(subscription.name);
    if (channels.length > 0) this.#subscriber.subscribe(...channels).catch(() => {});
    if (globs.length > 0) this.#subscriber.psubscribe(...globs).catch(() => {});
    const stale = [...this.#maybeSubscribed.values()].filter((s) => !this.#wanted.has(s.name));
    this.#maybeSubscribed.clear();
    for (const subscription of stale) {
      this.#send(subscription, false).catch(() => this.#maybeSubscribed.set(subscription.name, subscription));
    }
  }

  #send(subscription: RedisSubscription, subscribe: boolean): Promise<unknown> {
    const redis = this.#subscriber;
    if (subscription.kind === 'channel') {
      return subscribe ? redis.subscribe(subscription.name) : redis.unsubscribe(subscription.name);
    }
    return subscribe ? redis.psubscribe(subscription.name) : redis.punsubscribe(subscription.name);
  }

  /** Tracks one connection's readiness; 'error' events are recorded, never thrown. */
  #watch(redis: Redis, setReady: (ready: boolean) => void): void {
    redis.on('error', (error: Error) => {
      this.#lastError = error?.message ?? String(error);
    });
    redis.on('ready', () => {
      setReady(true);
      this.#update();
    });
    const lost = () => {
      setReady(false);
      this.#update();
    };
    redis.on('close', lost);
    redis.on('end', lost);
  }

  #update(): void {
    if (this.#state === 'closed') return;
    if (this.#publisherReady && this.#subscriberReady) this.#setState('ready');
    else if (this.#state === 'ready' || this.#lastError !== '' || this.#publisher.status === 'reconnecting' || this.#subscriber.status === 'reconnecting') {
      this.#setState('down');
    }
  }

  #setState(state: BackplaneState): void {
    if (state === this.#state) return;
    this.#state = state;
    if (state === 'ready') {
      this.#lastError = '';
      this.#log(`redis backplane ready (${redactedUrl(this.#options.url)})`);
    } else if (state === 'down') {
      const reason = this.#lastError === '' ? 'connection lost' : this.#lastError;
      this.#log(`redis backplane down (${redactedUrl(this.#options.url)}: ${reason}); local delivery goes on, reconnecting`);
    }
  }
}

function ignore(): void {}

/** The Redis subscription for a pattern: its channel if exact, else a glob. */
function redisSubscription(pattern: string): RedisSubscription {
  const segments = pattern.split('.');
  if (!segments.some((s) => s === '*' || s === '>')) return { kind: 'channel', name: CHANNEL_PREFIX + pattern };
  // `*` and `>` segments → `*` (it crosses dots: the receiving side re-checks); glob
  // metacharacters that are literal in a topic are escaped.
  const glob = segments.map((s) => (s === '*' || s === '>' ? '*' : s.replace(/[?*[\]\\]/g, '\\$&'))).join('.');
  return { kind: 'glob', name: CHANNEL_PREFIX + glob };
}

function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'redis';
  }
}

/** Closes a connection now (no QUIT round trip) and waits until ioredis has let go of it. */
async function disconnect(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  // 'end' follows the socket's close; a connection already waiting to reconnect has no socket
  // left to close, so ioredis only cancels the timer and emits nothing: do not wait then.
  const waiting = redis.status === 'reconnecting' ? undefined : new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 1000);
    redis.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  redis.disconnect();
  await waiting;
}
