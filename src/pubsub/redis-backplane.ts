/**
 * Joins several server nodes through Redis pub/sub (ioredis, two connections: one publishes,
 * one subscribes). A node holds Redis subscriptions only for the patterns it has local
 * subscribers for (redis-subscriptions.ts).
 *
 * Messages carry their origin node and its sequence number (redis-wire.ts). A node ignores its
 * own version 1 messages (it delivered them locally already); its own version 2 messages are its
 * local delivery, so that each node delivers a topic in offset order. Redis delivers one copy
 * per matching SUBSCRIBE/PSUBSCRIBE of the connection, all before the next PUBLISH, and keeps
 * each publisher connection's order: so a message whose seq is not above the last seen from its
 * origin is a copy, dropped and counted in `duplicates`; `onMessage` runs once per publish.
 *
 * Nothing that may not have crossed is lost silently. Both connections are PINGed with a
 * deadline (redis-liveness.ts): a Redis that stops answering is `stalled`, and publishes are
 * then dropped and counted like while it is `down`. After any interruption the node is
 * `recovering` until every node it knows has confirmed its subscriptions again
 * (redis-presence.ts): publishes meanwhile are sent, and counted in `unconfirmed`.
 */
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import { topicError } from './topics.js';
import { PingWatch } from './redis-liveness.js';
import { decodeHeartbeat, encodeHeartbeat, PeerSet, PRESENCE_CHANNEL } from './redis-presence.js';
import { formatLogLine, type LogEntry, type LogSink } from '../logging/logger.js';
import { withOffset, type HistoryLimits, type HistoryQuery, type HistoryReply, type Sequenced } from './history.js';
import { defineHistoryCommands, publishWithHistory, readHistory } from './redis-history.js';
import { RedisSubscriptions } from './redis-subscriptions.js';
import { COUNT_BYTES, COUNT_CHANNEL, PresenceCounts } from './redis-presence-count.js';
import { CHANNEL_PREFIX, CHANNEL_PREFIX_BYTES, decodeMessage, encodeHeader, encodeMessage, epochOf, headerLength, isFrom, originOf, VERSION_WITH_OFFSET } from './redis-wire.js';

/**
 * `recovering`: both connections answer, but some other node has not confirmed its subscriptions
 * since this node's link was last interrupted. `stalled`: a connection is open but a PING went
 * unanswered past the deadline.
 */
export type BackplaneState = 'connecting' | 'ready' | 'recovering' | 'stalled' | 'down' | 'closed';

export const BACKPLANE_DEFAULTS = {
  /** Each connection is PINGed, and the node's heartbeat published, this often. */
  pingIntervalMs: 1000,
  /** A PING unanswered this long makes the backplane `stalled`. */
  pingTimeoutMs: 3000,
};

export interface BackplaneOptions {
  /** redis://host:port */
  url: string;
  /** Unique per server process (e.g. randomUUID()); at most 255 bytes of UTF-8. */
  nodeId: string;
  /** A publish from another node; called once per publish; `offset` when it keeps history. */
  onMessage: (topic: string, payload: Buffer, isBinary: boolean, offset?: number) => void;
  /** Topics keep history in Redis (publishWithHistory, read). */
  history?: HistoryLimits;
  /** This node's subscriptions to exactly `topic`, for another node's presence count. */
  countSubscribers?: (topic: string) => Promise<number>;
  /** State changes, one entry per transition; default: text lines on stderr. */
  log?: LogSink;
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
}

export interface BackplaneStats {
  /** Messages Redis accepted from this node. */
  published: number;
  /**
   * Of `published`, those sent while some node this one knows had not confirmed its subscriptions
   * (after an interruption, or when it said it lost them or fell silent): they may have reached
   * nobody there. With `dropped`, every publish that may not have crossed is counted.
   */
  unconfirmed: number;
  /** Messages from other nodes handed to onMessage. */
  received: number;
  /** Publishes not sent: Redis down (there is no offline queue) or stalled, or the PUBLISH failed. */
  dropped: number;
  /** Times Redis was seen to stall (a PING unanswered past the deadline). */
  stalls: number;
  /** Times the link came back after being down (both connections ready again). */
  reconnects: number;
  /** Extra copies of a message (overlapping subscriptions, a resend after a reconnect). */
  duplicates: number;
}

/** How long a history publish's own delivery is waited for after Redis answered it. */
const OWN_DELIVERY_WAIT_MS = 2000;
const MAX_RETRY_DELAY_MS = 1000;
/**
 * PUBLISHes written but not yet acknowledged, in bytes, above which publishes are dropped: a
 * Redis that stalls without closing the socket (SIGSTOP, a partition) must not make memory grow.
 */
export const MAX_IN_FLIGHT_BYTES = 16 * 1024 * 1024;
/**
 * A connection with a command unanswered this long (at least twice the PING deadline) is dropped
 * and reconnected: a Redis gone without a FIN (a partition) would otherwise hold it for hours.
 */
const RECONNECT_AFTER_MS = 5000;
/** A node silent this long (at least ten times overdue) is taken for dead and no longer waited for. */
const FORGET_AFTER_MS = 30_000;
const PRESENCE_BYTES = Buffer.from(PRESENCE_CHANNEL);
/** How long close() waits for its goodbye to be acknowledged. */
const LEAVE_TIMEOUT_MS = 500;
/**
 * How long a join waits for Redis on a node that has not reached it yet (just started), or for
 * its topic's subscription to be confirmed; then it is answered as with Redis unreachable.
 */
const JOIN_WAIT_MS = 5000;

/**
 * ioredis is required when a backplane is made, not imported with this module: a server
 * without `redis` never loads it (it is about 50 files), and neither does `import 'wasmsocket'`.
 */
function loadRedisClient(): typeof Redis {
  return (createRequire(import.meta.url)('ioredis') as typeof import('ioredis')).Redis;
}

export class RedisBackplane {
  readonly stats: BackplaneStats = { published: 0, unconfirmed: 0, received: 0, dropped: 0, duplicates: 0, stalls: 0, reconnects: 0 };
  readonly #options: BackplaneOptions;
  readonly #log: LogSink;
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #publisherPing: PingWatch;
  readonly #subscriberPing: PingWatch;
  readonly #peers: PeerSet;
  readonly #timer: NodeJS.Timeout;
  readonly #nodeIdBytes: Buffer;
  readonly #subscriptions: RedisSubscriptions;
  /** Origin nodeId → the highest seq seen from it. */
  readonly #lastSeq = new Map<string, number>();
  #seq = 0;
  #inFlightBytes = 0;
  #state: BackplaneState = 'connecting';
  #publisherReady = false;
  #subscriberReady = false;
  /** Redis confirmed every subscription sent since the subscriber connection last connected. */
  #subscribed = false;
  /** Counts subscriber connections, so a late confirmation for a previous one is ignored. */
  #subscriberEpoch = 0;
  /** Every node this one knows has confirmed its subscriptions (kept by #update). */
  #peersConfirmed = true;
  #lastError = '';
  #warnedMalformed = false;
  /** History publishes of this node waiting for their own delivery, by seq. */
  readonly #sequencing = new Map<number, { message: Uint8Array; done: (sequenced: Sequenced) => void }>();
  readonly #presenceCounts: PresenceCounts;
  /** Joins waiting for the first connection attempt to end. */
  #connectWaiters: Array<() => void> = [];

  constructor(options: BackplaneOptions) {
    if (typeof options?.url !== 'string' || !/^rediss?:\/\//.test(options.url)) {
      throw new TypeError('options.url must be a redis:// or rediss:// URL');
    }
    if (typeof options.nodeId !== 'string' || options.nodeId.length === 0 || Buffer.byteLength(options.nodeId) > 255) {
      throw new TypeError('options.nodeId must be a non-empty string of at most 255 bytes');
    }
    if (typeof options.onMessage !== 'function') throw new TypeError('options.onMessage must be a function');
    if (options.log !== undefined && typeof options.log !== 'function') throw new TypeError('options.log must be a function');
    const pingIntervalMs = options.pingIntervalMs ?? BACKPLANE_DEFAULTS.pingIntervalMs;
    const pingTimeoutMs = options.pingTimeoutMs ?? BACKPLANE_DEFAULTS.pingTimeoutMs;
    for (const [name, value] of [['pingIntervalMs', pingIntervalMs], ['pingTimeoutMs', pingTimeoutMs]] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`options.${name} must be a whole number ≥ 1, got ${String(value)}`);
    }
    this.#options = options;
    this.#log = options.log ?? ((entry: LogEntry) => console.error(formatLogLine(entry, 'text')));
    this.#nodeIdBytes = Buffer.from(options.nodeId, 'utf8');

    const common = {
      lazyConnect: true,
      // No offline queue: a publish while Redis is down is dropped and counted, and
      // subscriptions are all sent again on every 'ready', so nothing needs queueing.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 10), MAX_RETRY_DELAY_MS),
      autoResubscribe: true,
    };
    const socketTimeout = Math.max(RECONNECT_AFTER_MS, 2 * pingTimeoutMs);
    const RedisClient = loadRedisClient();
    this.#publisher = new RedisClient(options.url, { ...common, connectionName: 'wasmsocket-pub', socketTimeout });
    if (options.history !== undefined) defineHistoryCommands(this.#publisher);
    this.#subscriber = new RedisClient(options.url, { ...common, connectionName: 'wasmsocket-sub', socketTimeout });
    this.#subscriptions = new RedisSubscriptions(this.#subscriber);
    this.#presenceCounts = new PresenceCounts({
      nodeId: options.nodeId,
      publish: (message) => this.#publisher.publish(COUNT_CHANNEL, message),
      usable: () => this.#usable,
      countSubscribers: options.countSubscribers,
    });
    this.#publisherPing = new PingWatch(this.#publisher, pingTimeoutMs, () => this.#linkChanged());
    this.#subscriberPing = new PingWatch(this.#subscriber, pingTimeoutMs, () => this.#linkChanged());
    // Overdue: two heartbeats missed and a PING deadline on top.
    const overdueMs = 2 * pingIntervalMs + pingTimeoutMs;
    this.#peers = new PeerSet(overdueMs, Math.max(FORGET_AFTER_MS, 10 * overdueMs));

    this.#watch(this.#publisher, this.#publisherPing, (ready) => { this.#publisherReady = ready; });
    this.#watch(this.#subscriber, this.#subscriberPing, (ready) => {
      this.#subscriberReady = ready;
      if (ready || !this.#subscribed) return;
      this.#subscribed = false;
      // Tell the others at once that this node is deaf (if the publisher still gets through).
      this.#announce(false);
    });
    this.#subscriber.on('ready', () => this.#resubscribe());
    this.#subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#receive(channel, message));
    this.#subscriber.on('pmessageBuffer', (_glob: unknown, channel: Buffer, message: Buffer) => this.#receive(channel, message));

    // connect() rejects when the first attempt fails; retryStrategy keeps trying regardless.
    this.#publisher.connect().catch(() => {});
    this.#subscriber.connect().catch(() => {});
    this.#timer = setInterval(() => this.#tick(), pingIntervalMs);
    this.#timer.unref();
  }

  get state(): BackplaneState {
    return this.#state;
  }

  /** The other nodes this one waits for after an interruption, and how many have confirmed. */
  get peers(): { nodes: number; confirmed: number } {
    return { nodes: this.#peers.size, confirmed: this.#peers.confirmed(Date.now()) };
  }

  /** Subscribes this node to `pattern` in Redis (the broker calls it on the first local subscriber). */
  addPattern(pattern: string): void {
    const error = topicError(pattern, true);
    if (error !== undefined) throw new TypeError(`invalid subscription pattern ${JSON.stringify(pattern)}: ${error}`);
    if (this.#state !== 'closed') this.#subscriptions.add(pattern);
  }

  /** Unsubscribes this node from `pattern` (the broker calls it when the last local subscriber goes). */
  removePattern(pattern: string): void {
    this.#subscriptions.remove(pattern, this.#state !== 'closed');
  }

  /**
   * Sends a publish to the other nodes. Never throws; while Redis is down or stalled it is dropped
   * and counted; while some known node has not confirmed its subscriptions, it is sent and counted
   * as unconfirmed.
   */
  publish(topic: string, payload: Uint8Array, isBinary: boolean): void {
    // Either connection's stall means the one Redis is stalled: its PINGs are not due at the same
    // moment, and a publish queued behind a frozen Redis would be sent late or lost uncounted.
    const state = this.#state;
    if (state === 'closed' || state === 'stalled' || state === 'down' || this.#publisher.status !== 'ready' || this.#publisherPing.stalled) {
      this.stats.dropped++;
      return;
    }
    const size = headerLength(this.#nodeIdBytes.length) + payload.length;
    if (this.#inFlightBytes > 0 && this.#inFlightBytes + size > MAX_IN_FLIGHT_BYTES) {
      this.stats.dropped++;
      return;
    }
    const unconfirmed = !this.#peersConfirmed;
    try {
      const reply = this.#publisher.publish(CHANNEL_PREFIX + topic, encodeMessage(this.#nodeIdBytes, ++this.#seq, payload, isBinary));
      this.#inFlightBytes += size;
      reply.then(
        () => {
          this.#inFlightBytes -= size;
          this.stats.published++;
          if (unconfirmed) this.stats.unconfirmed++;
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

  /** True while publishes can reach Redis. */
  get #usable(): boolean {
    const state = this.#state;
    return !(state === 'closed' || state === 'stalled' || state === 'down' || this.#publisher.status !== 'ready' || this.#publisherPing.stalled);
  }

  /**
   * A history publish: Redis gives it the topic's next offset, keeps it and publishes it to every
   * node, this one included; `done` runs with this node's delivery when it comes back (so this
   * node delivers a topic in offset order too). One that does not come back (this node was not
   * subscribed to the topic when Redis ran it) is only acknowledged (`skipLocal`): a subscriber
   * that joined meanwhile reads it from the history, which it reads after that publish. While
   * Redis is unreachable the publish gets no offset and is not kept: `done` runs at once with it
   * as it was (delivered on this node only).
   */
  sequence(topic: string, message: Uint8Array, done: (sequenced: Sequenced) => void): void {
    const limits = this.#options.history;
    if (limits === undefined || !this.#usable) {
      this.stats.dropped++;
      done({ payload: message });
      return;
    }
    const seq = ++this.#seq;
    this.#sequencing.set(seq, { message, done });
    const unconfirmed = !this.#peersConfirmed;
    publishWithHistory(this.#publisher, limits, CHANNEL_PREFIX + topic, topic, encodeHeader(this.#nodeIdBytes, VERSION_WITH_OFFSET, seq, false), message).then((position) => {
      this.stats.published++;
      if (unconfirmed) this.stats.unconfirmed++;
      if (!this.#sequencing.has(seq)) return;
      const acknowledge = () => {
        const waiting = this.#sequencing.get(seq);
        if (waiting === undefined) return;
        this.#sequencing.delete(seq);
        waiting.done({ payload: withOffset(message, position.offset), position, skipLocal: true });
      };
      // Its own copy comes (on the other connection) while this node is subscribed to the topic.
      if (!this.#subscriptions.matches(topic)) acknowledge();
      else setTimeout(acknowledge, OWN_DELIVERY_WAIT_MS).unref();
    }, () => {
      const waiting = this.#sequencing.get(seq);
      this.#sequencing.delete(seq);
      this.stats.dropped++;
      waiting?.done({ payload: message });
    });
  }

  /**
   * A topic's history from Redis; undefined while Redis is unreachable. Read only once this node's
   * subscription to the topic is live in Redis: a publish between the read and the subscription
   * would otherwise reach a joining client neither way, and its position would hide the loss.
   */
  read(topic: string, query: HistoryQuery, done: (reply: HistoryReply | undefined) => void): void {
    const limits = this.#options.history;
    // A node that has not reached Redis yet waits for it; one that had it and lost it answers at once.
    const firstConnect = this.#state === 'connecting';
    if (limits === undefined || (!firstConnect && !this.#linksUp)) {
      done(undefined);
      return;
    }
    const live = this.#subscriptions.live(topic);
    const ready = firstConnect ? Promise.all([this.#connected(), live]) : live;
    withinMs(ready, JOIN_WAIT_MS)
      .then((inTime) => (inTime && this.#linksUp ? readHistory(this.#publisher, limits, topic, query) : undefined))
      .then(done, () => done(undefined));
  }

  /** Subscriptions to exactly `topic` on the other nodes, as many as answer in time. */
  otherNodes(topic: string): Promise<number> {
    const nodes = this.#peers.size;
    if (nodes === 0 || !this.#usable) return Promise.resolve(0);
    return this.#presenceCounts.ask(topic, nodes);
  }

  get #linksUp(): boolean {
    return this.#publisherReady && this.#subscriberReady;
  }

  /** Resolves when the first connection attempt ends, either way (state leaves 'connecting'). */
  #connected(): Promise<void> {
    if (this.#state !== 'connecting') return Promise.resolve();
    return new Promise((resolve) => this.#connectWaiters.push(resolve));
  }

  /**
   * Says goodbye (so no node waits for this one), then disconnects both connections; publishes
   * after this are dropped.
   */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#setState('closed');
    clearInterval(this.#timer);
    if (this.#publisher.status === 'ready' && !this.#publisherPing.stalled) {
      const leaving = encodeHeartbeat(this.#nodeIdBytes, { present: false, subscribed: false, answerMe: false });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.#publisher.publish(PRESENCE_CHANNEL, leaving).catch(ignore),
        new Promise((resolve) => { timer = setTimeout(resolve, LEAVE_TIMEOUT_MS); }),
      ]);
      clearTimeout(timer);
    }
    await Promise.all([disconnect(this.#publisher), disconnect(this.#subscriber)]);
  }

  #receive(channel: Buffer, message: Buffer): void {
    if (this.#state === 'closed') return;
    if (channel.equals(PRESENCE_BYTES)) {
      this.#heard(message);
      return;
    }
    if (channel.equals(COUNT_BYTES)) {
      this.#presenceCounts.heard(message);
      return;
    }
    const decoded = decodeMessage(message);
    if (decoded === undefined || channel.length <= CHANNEL_PREFIX_BYTES) {
      if (!this.#warnedMalformed) {
        this.#warnedMalformed = true;
        this.#log({ level: 'warn', event: 'backplane_malformed_message', message: 'redis backplane: ignoring malformed message(s) on the wasmsocket: channels' });
      }
      return;
    }
    const { seq, offset, payloadAt } = decoded;
    if (isFrom(message, decoded, this.#nodeIdBytes)) {
      // This node's history publish, in its place among the others: delivered here now.
      const waiting = offset === undefined ? undefined : this.#sequencing.get(seq);
      if (waiting !== undefined) {
        this.#sequencing.delete(seq);
        waiting.done({ payload: message.subarray(payloadAt), position: { offset: offset!, epoch: epochOf(message, decoded) } });
      }
      return;
    }
    const origin = originOf(message, decoded);
    const last = this.#lastSeq.get(origin);
    if (last !== undefined && seq <= last) {
      this.stats.duplicates++;
      return;
    }
    const topic = channel.toString('utf8', CHANNEL_PREFIX_BYTES);
    // Globs over-match; and a message may arrive for a pattern removed a moment ago.
    if (!this.#subscriptions.matches(topic)) return;
    this.#lastSeq.set(origin, seq);
    this.stats.received++;
    try {
      this.#options.onMessage(topic, message.subarray(payloadAt), decoded.isBinary, offset);
    } catch (error) {
      this.#log({ level: 'error', event: 'backplane_handler_error', message: `redis backplane: onMessage threw: ${(error as Error)?.stack ?? error}` });
    }
  }

  /** On every subscriber 'ready': every subscription sent again (RedisSubscriptions.resubscribe). */
  #resubscribe(): void {
    const epoch = ++this.#subscriberEpoch;
    const sent = this.#subscriptions.resubscribe([PRESENCE_CHANNEL, COUNT_CHANNEL]);
    sent.confirmed.then(() => {
      if (epoch !== this.#subscriberEpoch || !this.#subscriberReady) return;
      sent.markLive();
      // Every subscription is live: the heartbeat can say so.
      this.#subscribed = true;
      this.#linkChanged();
    }, (error: Error) => {
      // A lost connection is retried on the next 'ready'; anything else (an ACL refusal) is logged.
      if (epoch === this.#subscriberEpoch && this.#subscriberReady) this.#log({ level: 'warn', event: 'backplane_subscribe_failed', message: `redis backplane: subscribing failed: ${error?.message ?? error}` });
    });
  }

  /** A heartbeat on the presence channel. */
  #heard(message: Buffer): void {
    const heartbeat = decodeHeartbeat(message);
    if (heartbeat === undefined) {
      if (!this.#warnedMalformed) {
        this.#warnedMalformed = true;
        this.#log({ level: 'warn', event: 'backplane_malformed_message', message: `redis backplane: ignoring malformed message(s) on ${PRESENCE_CHANNEL}` });
      }
      return;
    }
    if (heartbeat.nodeId === this.#options.nodeId) return;
    this.#peers.heard(heartbeat, Date.now());
    if (heartbeat.answerMe && heartbeat.present) this.#announce(false);
    this.#update();
  }

  /** Publishes this node's heartbeat; `answerMe` asks every node for its own now. */
  #announce(answerMe: boolean): void {
    if (this.#state === 'closed' || this.#publisher.status !== 'ready' || this.#publisherPing.stalled) return;
    const subscribed = this.#subscribed && this.#subscriberReady && !this.#subscriberPing.stalled;
    const heartbeat = encodeHeartbeat(this.#nodeIdBytes, { present: true, subscribed, answerMe });
    this.#publisher.publish(PRESENCE_CHANNEL, heartbeat).catch(ignore);
  }

  /** Every interval: PING both connections, publish the heartbeat, notice silent nodes. */
  #tick(): void {
    this.#publisherPing.ping();
    this.#subscriberPing.ping();
    this.#announce(false);
    for (const nodeId of this.#peers.expire(Date.now())) {
      this.#log({ level: 'warn', event: 'backplane_node_gone', message: `redis backplane: node ${nodeId} has been silent too long, taken for gone`, fields: { node: nodeId } });
    }
    this.#update();
  }

  /** A connection came back, was confirmed, stalled or answered again. */
  #linkChanged(): void {
    const previous = this.#state;
    this.#update();
    // Whole again: say so, and ask every node to confirm its subscriptions now.
    if (this.#state !== previous && (this.#state === 'recovering' || this.#state === 'ready')) this.#announce(true);
  }

  /** Tracks one connection's readiness; 'error' events are recorded, never thrown. */
  #watch(redis: Redis, ping: PingWatch, setReady: (ready: boolean) => void): void {
    redis.on('error', (error: Error) => {
      this.#lastError = error?.message ?? String(error);
    });
    redis.on('ready', () => {
      setReady(true);
      this.#linkChanged();
    });
    const lost = () => {
      ping.reset();
      setReady(false);
      this.#update();
    };
    redis.on('close', lost);
    redis.on('end', lost);
  }

  #update(): void {
    if (this.#state === 'closed') return;
    const connected = this.#publisherReady && this.#subscriberReady;
    const stalled = connected && (this.#publisherPing.stalled || this.#subscriberPing.stalled);
    // Whatever the others said before an interruption may not hold after it: ask them again.
    if (!connected || stalled || !this.#subscribed) this.#peers.invalidate();
    this.#peersConfirmed = this.#peers.confirmed(Date.now()) === this.#peers.size;
    let state: BackplaneState;
    if (!connected) {
      const firstAttempt = this.#state === 'connecting' && this.#lastError === ''
        && this.#publisher.status !== 'reconnecting' && this.#subscriber.status !== 'reconnecting';
      state = firstAttempt ? 'connecting' : 'down';
    } else if (stalled) {
      state = 'stalled';
    } else if (!this.#subscribed) {
      // Connected, Redis's confirmations of the subscriptions still to come (a moment).
      state = this.#state === 'connecting' || this.#state === 'down' ? this.#state : 'recovering';
    } else {
      state = this.#peersConfirmed ? 'ready' : 'recovering';
    }
    if (state === 'stalled' && this.#state !== 'stalled') this.stats.stalls++;
    this.#setState(state);
  }

  #setState(state: BackplaneState): void {
    if (state === this.#state) return;
    if (this.#state === 'connecting') {
      const waiters = this.#connectWaiters;
      this.#connectWaiters = [];
      for (const resolve of waiters) resolve();
    }
    if (this.#state === 'down' && state !== 'closed') this.stats.reconnects++;
    this.#state = state;
    const url = redactedUrl(this.#options.url);
    if (state === 'ready') {
      this.#lastError = '';
      this.#log({ level: 'info', event: 'backplane_up', message: `redis backplane ready (${url})`, fields: { url } });
    } else if (state === 'down') {
      const reason = this.#lastError === '' ? 'connection lost' : this.#lastError;
      this.#log({ level: 'error', event: 'backplane_down', message: `redis backplane down (${url}: ${reason}); local delivery goes on, reconnecting`, fields: { url, reason } });
    } else if (state === 'stalled') {
      this.#log({ level: 'error', event: 'backplane_stalled', message: `redis backplane stalled (${url}: a PING went unanswered); publishes to other nodes are dropped and counted`, fields: { url } });
    } else if (state === 'recovering') {
      const { nodes, confirmed } = this.peers;
      this.#log({ level: 'warn', event: 'backplane_recovering', message: `redis backplane recovering (${url}): ${nodes - confirmed} of ${nodes} other node(s) to confirm their subscriptions; publishes meanwhile are counted as unconfirmed`, fields: { url, nodes, confirmed } });
    }
  }
}

function ignore(): void {}

/** Whether `promise` settled within `ms` (a rejection counts as settled, and is passed on). */
function withinMs(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  return Promise.race([promise.then(() => true), late]).finally(() => clearTimeout(timer));
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
