/**
 * The Redis subscriptions a node holds on its subscriber connection: one for each pattern it has
 * local subscribers for. An exact pattern is a SUBSCRIBE to `wasmsocket:<topic>`; a wildcard
 * pattern is a PSUBSCRIBE to a glob that may over-match (`*` crosses dots), so incoming topics
 * are checked again against the exact patterns (`matches`). Subscriptions that patterns share
 * (`a.*` and `a.>` give one glob) are counted, and each knows when Redis confirmed it (`live`).
 */
import type { Redis } from 'ioredis';
import { SubscriptionIndex } from './topics.js';
import { CHANNEL_PREFIX } from './redis-wire.js';

/** How a pattern is subscribed in Redis. */
interface RedisSubscription {
  readonly kind: 'channel' | 'glob';
  readonly name: string;
}

interface WantedSubscription {
  readonly subscription: RedisSubscription;
  /** How many local patterns need it. */
  patterns: number;
  /** Resolves once Redis has confirmed it (by its own SUBSCRIBE, or the next resubscribe's). */
  readonly live: Promise<void>;
  readonly markLive: () => void;
}

export class RedisSubscriptions {
  readonly #redis: Redis;
  /** The patterns with local subscribers (each with one dummy subscriber): the exact re-check. */
  readonly #patterns = new SubscriptionIndex<true>();
  /** Redis subscriptions we want, by name. */
  readonly #wanted = new Map<string, WantedSubscription>();
  /** Unsubscribes that may not have reached Redis; retried on the next resubscribe. */
  readonly #maybeSubscribed = new Map<string, RedisSubscription>();

  constructor(subscriber: Redis) {
    this.#redis = subscriber;
  }

  /** Whether some pattern held matches `topic` (a glob's message may be for none). */
  matches(topic: string): boolean {
    return this.#patterns.match(topic, ignore) !== 0;
  }

  /** Resolves once the channel of exactly `topic` is confirmed by Redis (at once if not wanted). */
  live(topic: string): Promise<void> {
    return this.#wanted.get(CHANNEL_PREFIX + topic)?.live ?? Promise.resolve();
  }

  /** A pattern's first local subscriber: subscribed in Redis unless another pattern shares it. */
  add(pattern: string): void {
    if (!this.#patterns.add(pattern, true)) return;
    const subscription = redisSubscription(pattern);
    const wanted = this.#wanted.get(subscription.name);
    if (wanted !== undefined) {
      wanted.patterns++;
      return;
    }
    let markLive!: () => void;
    const live = new Promise<void>((resolve) => { markLive = resolve; });
    this.#wanted.set(subscription.name, { subscription, patterns: 1, live, markLive });
    this.#maybeSubscribed.delete(subscription.name);
    // While not connected this fails at once (no offline queue); the next resubscribe sends it.
    this.#send(subscription, true).then(markLive, ignore);
  }

  /** A pattern's last local subscriber went; `unsubscribe`: tell Redis (not while closing). */
  remove(pattern: string, unsubscribe: boolean): void {
    if (!this.#patterns.remove(pattern, true)) return;
    const subscription = redisSubscription(pattern);
    const wanted = this.#wanted.get(subscription.name);
    if (wanted === undefined || --wanted.patterns > 0) return;
    this.#wanted.delete(subscription.name);
    if (!unsubscribe) return;
    this.#send(subscription, false).catch(() => {
      // ioredis's autoResubscribe may restore it after a reconnect: undo it then.
      if (!this.#wanted.has(subscription.name)) this.#maybeSubscribed.set(subscription.name, subscription);
    });
  }

  /**
   * On every 'ready' of the connection: ioredis's autoResubscribe restores what was confirmed
   * before it dropped, but not subscriptions added while it was down (or before the first ready),
   * and it restores ones removed while down. So this subscribes `channels` and everything wanted
   * (harmless for those already subscribed) and unsubscribes the leftovers. Redis answers a
   * connection's commands in order: once `confirmed` resolves every subscription is live, which
   * the caller says with `markLive()` if the connection is still the one they were sent on.
   */
  resubscribe(channels: string[]): { confirmed: Promise<unknown>; markLive: () => void } {
    const exact = [...channels];
    const globs: string[] = [];
    const sent = [...this.#wanted.values()];
    for (const { subscription } of sent) (subscription.kind === 'channel' ? exact : globs).push(subscription.name);
    const confirmations: Promise<unknown>[] = [this.#redis.subscribe(...exact)];
    if (globs.length > 0) confirmations.push(this.#redis.psubscribe(...globs));
    const stale = [...this.#maybeSubscribed.values()].filter((s) => !this.#wanted.has(s.name));
    this.#maybeSubscribed.clear();
    for (const subscription of stale) {
      this.#send(subscription, false).catch(() => this.#maybeSubscribed.set(subscription.name, subscription));
    }
    return {
      confirmed: Promise.all(confirmations),
      markLive: () => {
        for (const wanted of sent) wanted.markLive();
      },
    };
  }

  #send(subscription: RedisSubscription, subscribe: boolean): Promise<unknown> {
    const redis = this.#redis;
    if (subscription.kind === 'channel') {
      return subscribe ? redis.subscribe(subscription.name) : redis.unsubscribe(subscription.name);
    }
    return subscribe ? redis.psubscribe(subscription.name) : redis.punsubscribe(subscription.name);
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
