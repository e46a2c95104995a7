/**
 * The broker of one thread (a worker, or the main thread inline): topic patterns → the
 * subscribers among that thread's connections. A publish is framed once and the same buffer is
 * written to every matching subscriber's socket. The backplane carries publishes to the rest of
 * the node's threads and to other nodes; theirs come back through `deliver`.
 *
 * With permessage-deflate (RFC 7692), a publish big enough to compress is also compressed once
 * (per window size) and that one frame goes to every subscriber that negotiated
 * server_no_context_takeover; a subscriber with context takeover compresses it itself (its
 * window goes on from its own previous messages); the others get the plain frame.
 *
 * Subscriptions are bounded per connection and per thread: every pattern costs memory, and a
 * publish costs one set visit per matching pattern, so one client's many overlapping patterns
 * would otherwise make each publish of a topic they match cost what the client likes.
 */
import type { FrameCodec } from '../codec/codec.js';
import { headerLength } from '../codec/codec.js';
import { compresses, RSV1_BIT, type CompressorSettings } from '../protocol/compression.js';
import { deflateMessage } from '../protocol/message-deflater.js';
import { SharedFrame } from '../protocol/shared-frame.js';
import { SubscriptionIndex } from './topics.js';
import type { HistoryQuery, HistoryReply, HistorySource, StreamPosition } from './history.js';
import { RecoveringSubscribers } from './recovery.js';
import { DeliveryAdmission, type AdmissionOptions, type AdmissionStats, type AdmittedSubscriber, type SendPressure, type SlowSubscriberPolicy } from './delivery-admission.js';

export type { SendPressure, SlowSubscriberPolicy };
import { awaitTurnEnd, BATCHED_PUBLISH_MAX, fanOutBatchedBroadcasts, TurnBatch, type BatchHolder } from './turn-batch.js';

/** A connection as the broker sees it. */
export interface Subscriber extends AdmittedSubscriber {
  /** The remote address its subscriptions count against (maxSubscriptionsPerIp); none: not counted. */
  readonly address?: string;
  /**
   * How it takes a publish that is compressed: undefined, never (no permessage-deflate);
   * `shared`, the publish's one compressed frame for its window size (no server context
   * takeover); `own`, through its own compressor (context takeover).
   */
  readonly deflate: SubscriberDeflate | undefined;
  /**
   * Queues ready frames (the same bytes for every subscriber: one message's frame, or a turn's
   * frames of one topic); frames written in the same turn leave in one syscall.
   */
  deliver(frame: SharedFrame): void;
  /** Compresses a publish with its own compressor and queues it like deliver(). */
  deliverCompressing(payload: Uint8Array, isBinary: boolean): void;
}

export type SubscriberDeflate = { kind: 'shared'; windowBits: number } | { kind: 'own' };

/**
 * Everyone beyond this thread: RedisBackplane (other nodes) when the broker runs inline, the
 * main thread's relay (other workers, then other nodes) when it runs in a worker.
 */
export interface Backplane {
  addPattern(pattern: string): void;
  removePattern(pattern: string): void;
  publish(topic: string, payload: Uint8Array, isBinary: boolean): void;
}

/** What a publish may ask for besides its bytes. */
export interface PublishOptions {
  /** Not delivered to this subscriber (the publishing connection, with `self: false`). */
  except?: Subscriber;
  /** The payload is a pub/sub JSON message that keeps history: it gets an offset (needs a HistorySource). */
  history?: boolean;
  /** Runs once the publish has its offset (undefined without history), after this thread's deliveries. */
  onPublished?: (position: StreamPosition | undefined) => void;
}

/** The answer to a subscribe on a topic with history, before anything is replayed. */
export interface JoinAnswer {
  position?: StreamPosition;
  /** Whether the `recover` position could be recovered (absent without `recover`). */
  recovered?: boolean;
}

export interface BrokerOptions extends AdmissionOptions {
  codec: FrameCodec;
  /** The thread's permessage-deflate compressor settings, when the server compresses. */
  compressor?: CompressorSettings;
  /** Patterns one subscriber may hold. */
  maxSubscriptions: number;
  /** (pattern, subscriber) pairs this broker may hold, all subscribers together. */
  maxTotalSubscriptions: number;
  /**
   * (pattern, subscriber) pairs the subscribers from one remote address may hold together on
   * this broker; 0 or unset: no such limit. Checked before the total, so that one address
   * meets its own limit long before it can fill the broker for everyone.
   */
  maxSubscriptionsPerIp?: number;
  /**
   * The longest a turn's batch waits for this thread's history publishes still out for their
   * offsets (fanOutAtTurnEnd); default HOLD_MAX_MS.
   */
  offsetWaitMs?: number;
}

/** Why a subscribe or publish was refused; the pubsub app answers it as an error reply. */
export interface PubSubRefusal {
  code: 'too_many_subscriptions' | 'forbidden';
  message: string;
}

export interface BrokerStats extends AdmissionStats {
  published: number;
  /** Publishes that came from other nodes. */
  received: number;
  deliveries: number;
  /** Subscribes refused: the connection had maxSubscriptions patterns. */
  tooManySubscriptions: number;
  /** Subscribes refused: the thread had maxTotalSubscriptions. */
  tooManyTotalSubscriptions: number;
  /** Subscribes refused: the connection's address had maxSubscriptionsPerIp on this thread. */
  tooManySubscriptionsPerIp: number;
  /** Subscribes and publishes refused by the topic permissions. */
  forbidden: number;
  /** Subscribes with `recover` whose missed messages were all still kept, and those told `recovered: false`. */
  recovered: number;
  notRecovered: number;
  /** Messages sent from history to recovering subscribers. */
  replayed: number;
}

/** The counters of BrokerStats, for summing them over threads. */
export const BROKER_COUNTERS = [
  'published', 'received', 'deliveries', 'dropped', 'droppedBufferLimit', 'closedSlow', 'tooManySubscriptions', 'tooManyTotalSubscriptions', 'tooManySubscriptionsPerIp',
  'forbidden', 'recovered', 'notRecovered', 'replayed',
] as const satisfies readonly (keyof BrokerStats)[];

export function emptyBrokerStats(): BrokerStats {
  return { published: 0, received: 0, deliveries: 0, dropped: 0, droppedBufferLimit: 0, closedSlow: 0, tooManySubscriptions: 0, tooManyTotalSubscriptions: 0, tooManySubscriptionsPerIp: 0, forbidden: 0, recovered: 0, notRecovered: 0, replayed: 0 };
}

/** History publishes one thread may have waiting for their offsets before its publishers wait. */
const MAX_AWAITING_OFFSETS = 256;
/** The longest a batch waits for this thread's history publishes to come back. */
const HOLD_MAX_MS = 1;

const OPCODE_TEXT = 1;
const OPCODE_BINARY = 2;

export class Broker implements BatchHolder {
  readonly stats: BrokerStats = emptyBrokerStats();
  readonly #index = new SubscriptionIndex<Subscriber>();
  readonly #options: BrokerOptions;
  #backplane: Backplane | undefined;
  /** Who takes a delivery now: the slow-subscriber policy against each queue and the thread's. */
  readonly #admission: DeliveryAdmission;
  /** Subscriptions held per remote address (only addresses holding some). */
  readonly #perAddress = new Map<string, number>();
  /** Offsets and history, when the server keeps history. */
  #history: HistorySource | undefined;
  /** History publishes of this thread sent for their offset and not back yet. */
  #awaitingOffsets = 0;
  /** Forces out a batch kept for history publishes still coming back (see fanOutAtTurnEnd). */
  #holdTimer: NodeJS.Timeout | undefined;
  /** Subscribers between their subscribe to a history topic and its answer. */
  readonly #joining = new RecoveringSubscribers<Subscriber>();
  /** This turn's plain publishes to one topic, fanned out together (turn-batch.ts). */
  readonly #batch: TurnBatch;

  constructor(options: BrokerOptions, pressure?: SendPressure) {
    this.#options = options;
    this.#admission = new DeliveryAdmission(options, pressure, this.stats);
    this.#batch = new TurnBatch(options.codec);
  }

  /** Connects the broker to other nodes; patterns subscribed so far are announced to it. */
  attachBackplane(backplane: Backplane): void {
    this.#backplane = backplane;
    for (const pattern of this.#index.patterns()) backplane.addPattern(pattern);
  }

  /** Offsets and history come from `source` from now on. */
  attachHistory(source: HistorySource): void {
    this.#history = source;
  }

  /** True when exact topics keep history: a subscribe answers a position, publishes may get offsets. */
  get keepsHistory(): boolean {
    return this.#history !== undefined;
  }

  /** Subscriptions to exactly `topic` on this thread. */
  exactSubscribers(topic: string): number {
    return this.#index.subscriberCount(topic);
  }

  /** (pattern, subscriber) pairs. */
  get subscriptionCount(): number {
    return this.#index.size;
  }

  /** Subscribes, unless a limit says no (counted); subscribing again to a pattern is no change. */
  subscribe(pattern: string, subscriber: Subscriber): PubSubRefusal | undefined {
    if (this.#index.has(pattern, subscriber)) return undefined;
    // What was published before the subscribe is not for it.
    this.fanOut();
    const { maxSubscriptions, maxTotalSubscriptions } = this.#options;
    if (this.#index.patternCount(subscriber) >= maxSubscriptions) {
      this.stats.tooManySubscriptions++;
      return { code: 'too_many_subscriptions', message: `a connection may hold ${maxSubscriptions} subscriptions; unsubscribe first` };
    }
    const perIp = this.#options.maxSubscriptionsPerIp ?? 0;
    const address = subscriber.address;
    if (perIp > 0 && address !== undefined && (this.#perAddress.get(address) ?? 0) >= perIp) {
      this.stats.tooManySubscriptionsPerIp++;
      return { code: 'too_many_subscriptions', message: `connections from one address may hold ${perIp} subscriptions here; unsubscribe first` };
    }
    if (this.#index.size >= maxTotalSubscriptions) {
      this.stats.tooManyTotalSubscriptions++;
      return { code: 'too_many_subscriptions', message: 'the server holds as many subscriptions as it takes; try again later' };
    }
    this.#index.add(pattern, subscriber);
    if (address !== undefined) this.#perAddress.set(address, (this.#perAddress.get(address) ?? 0) + 1);
    if (this.#index.subscriberCount(pattern) === 1) this.#backplane?.addPattern(pattern);
    return undefined;
  }

  unsubscribe(pattern: string, subscriber: Subscriber): void {
    // What was published before the unsubscribe still is.
    this.fanOut();
    if (!this.#index.remove(pattern, subscriber)) return;
    if (this.#joining.size !== 0) this.#joining.cancel(pattern, subscriber);
    this.#released(subscriber, 1);
    if (this.#index.subscriberCount(pattern) === 0) this.#backplane?.removePattern(pattern);
  }

  /** Forgets a connection that closed. */
  removeSubscriber(subscriber: Subscriber): void {
    this.fanOut();
    const patterns = this.#index.removeAll(subscriber);
    if (this.#joining.size !== 0) this.#joining.cancelAll(subscriber);
    this.#released(subscriber, patterns.length);
    for (const pattern of patterns) {
      if (this.#index.subscriberCount(pattern) === 0) this.#backplane?.removePattern(pattern);
    }
  }

  #released(subscriber: Subscriber, count: number): void {
    const address = subscriber.address;
    if (address === undefined || count === 0) return;
    const left = (this.#perAddress.get(address) ?? 0) - count;
    if (left > 0) this.#perAddress.set(address, left);
    else this.#perAddress.delete(address);
  }

  /**
   * A publish from this node: delivered here (at the end of the turn, with the turn's other
   * publishes to the topic, or at once when it cannot wait: see #deliver), and sent to the other
   * threads and nodes. A history publish is delivered once it has its offset.
   */
  publish(topic: string, payload: Uint8Array, isBinary: boolean, options?: PublishOptions): void {
    this.stats.published++;
    const history = this.#history;
    if (options?.history === true && history !== undefined) {
      this.#awaitingOffsets++;
      history.sequence(topic, payload, ({ payload: delivery, position, skipLocal }) => {
        // The last one back ends the wait of a kept batch at this turn's end.
        if (--this.#awaitingOffsets === 0 && this.#holdTimer !== undefined) awaitTurnEnd(this);
        if (skipLocal !== true) this.#deliver(topic, delivery, false, position?.offset ?? 0, options.except);
        options.onPublished?.(position);
      });
      return;
    }
    this.#backplane?.publish(topic, payload, isBinary);
    this.#deliver(topic, payload, isBinary, 0, options?.except);
    options?.onPublished?.(undefined);
  }

  /**
   * This thread's history publishes are waiting for their offsets (from the main thread or Redis)
   * in such numbers that their publishers should wait. Their fan-out happens when the offset
   * comes back, not while the publisher is read; without this a fast publisher would be read far
   * ahead of the deliveries, and the publishes in flight between threads would grow without bound.
   */
  get offsetsBacklogged(): boolean {
    return this.#awaitingOffsets >= MAX_AWAITING_OFFSETS;
  }

  /** A publish from another node: delivered here only; `offset` when it has one. */
  publishFromBackplane(topic: string, payload: Uint8Array, isBinary: boolean, offset = 0): void {
    this.stats.received++;
    this.#deliver(topic, payload, isBinary, offset);
  }

  /** A publish relayed from another thread of this node (counted where it entered the node). */
  deliver(topic: string, payload: Uint8Array, isBinary: boolean, offset = 0): void {
    this.#deliver(topic, payload, isBinary, offset);
  }

  /**
   * At the turn end, a batch is kept while this thread's history publishes are out for their
   * offsets (to Redis, or the main thread): they come back a few at a time over several turns,
   * and each batch costs a write per subscriber. Kept `offsetWaitMs` at most, and fanned out
   * before any other write of the thread's, as always.
   */
  fanOutAtTurnEnd(): boolean {
    if (this.#awaitingOffsets === 0 || this.#batch.count === 0) {
      this.fanOut();
      return true;
    }
    this.#holdTimer ??= setTimeout(() => {
      this.#holdTimer = undefined;
      fanOutBatchedBroadcasts();
    }, this.#options.offsetWaitMs ?? HOLD_MAX_MS);
    return false;
  }

  /** Delivers the publishes batched this turn now (turn-batch.ts). */
  fanOut(): void {
    if (this.#holdTimer !== undefined) {
      clearTimeout(this.#holdTimer);
      this.#holdTimer = undefined;
    }
    const batch = this.#batch;
    if (batch.count === 0) return;
    const count = batch.count;
    const topic = batch.topic;
    const frames = batch.take();
    this.#index.match(topic, (subscriber) => {
      if (!this.#admission.admits(subscriber, count)) return;
      this.stats.deliveries += count;
      subscriber.deliver(frames);
    });
  }

  /**
   * Subscribes to an exact topic that keeps history and joins its stream: `answer` gets the
   * topic's position (and whether `recover` could be recovered) before the missed messages are
   * replayed to the subscriber, then live ones follow with no gap and no duplicate. Without
   * history it is a plain subscribe and `answer` runs at once with no position (and
   * `recovered: false` for a recovery). A refusal is returned
   * (and `answer` not called).
   */
  join(topic: string, subscriber: Subscriber, recover: StreamPosition | undefined, answer: (joined: JoinAnswer) => void): PubSubRefusal | undefined {
    const history = this.#history;
    if (history === undefined) {
      const refusal = this.subscribe(topic, subscriber);
      // Nothing is kept, so nothing can be recovered: the client is told.
      if (refusal === undefined) {
        if (recover !== undefined) this.stats.notRecovered++;
        answer(recover === undefined ? {} : { recovered: false });
      }
      return refusal;
    }
    // Already joining: the first answer stands (its replay is on its way).
    if (this.#joining.waiting(topic, subscriber)) return undefined;
    const refusal = this.subscribe(topic, subscriber);
    if (refusal !== undefined) return refusal;
    this.#joining.hold(topic, subscriber);
    history.read(topic, recover === undefined ? { join: true } : { since: recover, join: true }, (reply) => {
      const through = reply?.position.offset ?? 0;
      const held = this.#joining.answered(topic, subscriber, through);
      const joined: JoinAnswer = reply === undefined ? {} : { position: reply.position };
      if (recover !== undefined) joined.recovered = reply?.recovered === true;
      // Unsubscribed (or closed) meanwhile: the subscribe is still answered, with nothing replayed.
      if (held === undefined && recover !== undefined) joined.recovered = false;
      if (joined.recovered === true) this.stats.recovered++;
      else if (joined.recovered === false) this.stats.notRecovered++;
      answer(joined);
      if (held === undefined) return;
      const entries = reply?.entries ?? [];
      this.stats.replayed += entries.length;
      for (const entry of entries) subscriber.deliverCompressing(entry.payload, false);
      for (const late of held) subscriber.deliverCompressing(late.payload, late.isBinary);
    });
    return undefined;
  }

  /** A topic's history, as `history.read` answers it (undefined: no history kept, or unreachable). */
  history(topic: string, query: HistoryQuery, done: (reply: HistoryReply | undefined) => void): void {
    if (this.#history === undefined) done(undefined);
    else this.#history.read(topic, query, done);
  }

  /** Subscriptions to exactly `topic` on every thread and node. */
  presence(topic: string, done: (count: number) => void): void {
    const local = this.#index.subscriberCount(topic);
    if (this.#history === undefined) done(local);
    else this.#history.presence(topic, local, done);
  }

  #deliver(topic: string, payload: Uint8Array, isBinary: boolean, offset: number, except?: Subscriber): void {
    // A publish nobody here can receive costs no frame (in worker mode every worker gets every publish).
    if (!this.#index.mayMatch(topic)) return;
    const compressor = this.#options.compressor;
    const compressed = compressor !== undefined && compresses(compressor, payload.length);
    const joining = offset !== 0 && this.#joining.size !== 0 ? this.#joining.joining(topic) : undefined;
    if (!compressed && except === undefined && joining === undefined && payload.length <= BATCHED_PUBLISH_MAX) {
      const batch = this.#batch;
      if (!batch.takes(topic, payload.length)) this.fanOut();
      if (batch.count === 0) awaitTurnEnd(this);
      batch.add(topic, payload, isBinary ? OPCODE_BINARY : OPCODE_TEXT);
      return;
    }
    // Delivered one by one, now: what was batched before goes first.
    this.fanOut();
    let frame: SharedFrame | undefined;
    /** Compressed frames of this publish by window size, built on first use. */
    let compressedFrames: Map<number, SharedFrame> | undefined;
    this.#index.match(topic, (subscriber) => {
      if (subscriber === except) return;
      if (joining !== undefined && this.#joining.intercept(joining, topic, subscriber, offset, payload, isBinary)) return;
      if (!this.#admission.admits(subscriber, 1)) return;
      this.stats.deliveries++;
      const deflate = compressed ? subscriber.deflate : undefined;
      if (deflate === undefined) {
        // Built on the first delivery only: a publish nobody receives costs no frame.
        frame ??= new SharedFrame(this.#frame(payload, isBinary, false));
        subscriber.deliver(frame);
      } else if (deflate.kind === 'own') {
        subscriber.deliverCompressing(payload, isBinary);
      } else {
        compressedFrames ??= new Map();
        let shared = compressedFrames.get(deflate.windowBits);
        if (shared === undefined) {
          shared = new SharedFrame(this.#frame(deflateMessage(payload, deflate.windowBits, compressor!), isBinary, true));
          compressedFrames.set(deflate.windowBits, shared);
        }
        subscriber.deliver(shared);
      }
    });
  }

  /** One unmasked frame holding the whole message; `compressed` sets RSV1. */
  #frame(payload: Uint8Array, isBinary: boolean, compressed: boolean): Buffer {
    const frame = Buffer.allocUnsafeSlow(headerLength(payload.length, false) + payload.length);
    const size = this.#options.codec.writeHeader(frame, 0, isBinary ? OPCODE_BINARY : OPCODE_TEXT, true, payload.length);
    if (compressed) frame[0] |= RSV1_BIT;
    frame.set(payload, size);
    return frame;
  }
}
