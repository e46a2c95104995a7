/**
 * broadcast: subscribers subscribe to the topic as they open; once every shard is connected and
 * its subscriptions acknowledged (or SUBSCRIBE_REPLY_QUIET_MS passed without a reply) the
 * publishers publish, either at the shard's share of --rate, round-robin (open loop: latency at a
 * chosen load), or each at most --in-flight K publishes ahead of the slowest subscriber of the run
 * (closed loop: the most the server delivers). A delivery's latency is the time since the
 * publish's (intended) send time, read from its data: wall-clock µs, so publishers and
 * subscribers may live in different threads or processes of this machine. Every publish carries
 * its publisher's id and sequence number; each subscriber's deliveries are checked against them
 * (delivery-ledger.ts).
 */
import type { LoadConnection } from '../connection.js';
import type { DataFrameHandler } from '../data-frame-reader.js';
import { DeliveryLedger } from '../delivery-ledger.js';
import { NO_SUBSCRIBERS, PublishWindow } from '../publish-window.js';
import { DeliveryReader, isSubscribedReply, PublishTemplate, subscribeMessage } from '../pubsub-format.js';
import { CorkBatch, PACED_QUEUE_LIMIT, RatePacer, type ScenarioContext, type ScenarioDriver } from './scenario.js';

/** After the stop, subscribers listen at least this long for the deliveries of the last publishes… */
const DELIVERY_GRACE_MS = 300;
/** …and until no delivery has come for this long (the shard bounds the whole wait). */
const DELIVERY_QUIET_MS = 100;
/** …and for this many drain polls in a row (each in a later turn of the event loop, after its reads). */
const DELIVERY_QUIET_POLLS = 3;
/** Closed loop: a window that has not moved for this long lost a delivery; one more publish goes out. */
const WINDOW_STALL_MS = 500;

/**
 * A shard's readiness waits for its subscribers' {"type":"subscribed"} replies until this long
 * passes without one: a server that never answers still runs, its subscribers assumed subscribed.
 */
export const SUBSCRIBE_REPLY_QUIET_MS = 2000;
const SUBSCRIBE_POLL_MS = 50;
const WAITING = 0, ACKNOWLEDGED = 1, ASSUMED = 2;

/** Deliveries are not compared with anything past their stamp. */
const NOTHING_EXPECTED = Buffer.alloc(0);

export class BroadcastScenario implements ScenarioDriver, DataFrameHandler<LoadConnection> {
  readonly #context: ScenarioContext;
  readonly #template: PublishTemplate;
  readonly #reader: DeliveryReader;
  readonly #ledger: DeliveryLedger;
  /** Local publishers, by index from the shard's first publisher. */
  readonly #publishers: LoadConnection[] = [];
  readonly #pacer: RatePacer | undefined;
  readonly #batch = new CorkBatch();
  /** Connection index → subscriber slot: connections before this are subscribers. */
  readonly #firstConnection: number;
  readonly #subscribers: number;
  /** Closed loop only. */
  readonly #window: PublishWindow | undefined;
  readonly #inFlight: number;
  /** Run-wide complete sequence per publisher (the slowest subscriber's), and when it last moved. */
  readonly #complete: Float64Array;
  readonly #movedAt: Float64Array;
  /** Local publishers with room in their window, sent to once the current callback ends. */
  readonly #ready = new Set<LoadConnection>();
  /** Publishers whose local complete moved, reported to the coordinator once per turn. */
  readonly #changed = new Set<number>();
  /** Per local subscriber: ACKNOWLEDGED, ASSUMED (the wait ended first), else still waiting. */
  readonly #subscribed: Uint8Array;
  /** Open subscribers not yet acknowledged, and when the last acknowledgement came. */
  #unacknowledged = 0;
  #lastReplyAt = 0;
  #whenReady: (() => void) | undefined;
  #readyTimer: NodeJS.Timeout | undefined;
  #flushScheduled = false;
  #reportScheduled = false;
  #stallTimer: NodeJS.Timeout | undefined;
  #next = 0;
  #lastDeliveryAt = 0;
  #receivedAtPoll = -1;
  #quietPolls = 0;
  /** performance.now() → µs since the epoch, for the intended send times. */
  readonly #epochOffsetMs = performance.timeOrigin;
  /**
   * Deliveries are read in place from the socket's bytes (data-frame-reader.ts): no message is
   * built, only the stamp is read; a frame split over reads keeps its head up to the stamp. Their
   * text is not checked as UTF-8 (the full protocol reads whatever the fast path does not take).
   */
  readonly dataFrames: { handler: DataFrameHandler<LoadConnection>; expected: Buffer; headBytes: number };

  constructor(context: ScenarioContext) {
    this.#context = context;
    const { plan } = context;
    this.#template = new PublishTemplate(plan.topic, plan.size, plan.payload);
    this.#reader = new DeliveryReader(plan.topic);
    this.dataFrames = { handler: this, expected: NOTHING_EXPECTED, headBytes: this.#reader.stampEnd };
    this.#firstConnection = plan.firstConnection;
    this.#subscribers = plan.connections - plan.publishers;
    this.#subscribed = new Uint8Array(this.#subscribers);
    this.#ledger = new DeliveryLedger(this.#subscribers, plan.totalPublishers, context.stats.counters);
    this.#inFlight = plan.inFlight;
    this.#complete = new Float64Array(plan.totalPublishers).fill(-1);
    this.#movedAt = new Float64Array(plan.totalPublishers);
    if (plan.rate > 0) {
      this.#pacer = new RatePacer(plan.rate, (at) => this.#publishPaced(at), () => this.#batch.begin(), () => this.#batch.flush());
    } else {
      // Sequences up to the window plus the probes past a stall are counted.
      this.#window = new PublishWindow(plan.totalPublishers, 4 * plan.inFlight);
    }
  }

  opened(conn: LoadConnection): void {
    const local = conn.index - this.#firstConnection;
    if (conn.isPublisher) {
      this.#publishers[local - this.#subscribers] = conn;
      return;
    }
    this.#ledger.opened(local);
    this.#window?.subscriberOpened();
    this.#unacknowledged++;
    conn.sendText(subscribeMessage(this.#context.plan.topic));
  }

  ready(done: () => void): void {
    this.#whenReady = done;
    this.#lastReplyAt = performance.now();
    if (this.#checkReady()) return;
    this.#readyTimer = setInterval(() => {
      if (this.#checkReady() || performance.now() - this.#lastReplyAt < SUBSCRIBE_REPLY_QUIET_MS) return;
      // The server does not acknowledge (or not all): go on, and say so in the summary.
      for (let s = 0; s < this.#subscribers; s++) if (this.#subscribed[s] === WAITING) this.#subscribed[s] = ASSUMED;
      this.#context.stats.counters.subscriptionsAssumed += this.#unacknowledged;
      this.#unacknowledged = 0;
      this.#checkReady();
    }, SUBSCRIBE_POLL_MS);
  }

  /** True (and the shard told) once no open subscriber waits for its acknowledgement. */
  #checkReady(): boolean {
    if (this.#whenReady === undefined || this.#unacknowledged > 0) return false;
    clearInterval(this.#readyTimer);
    const done = this.#whenReady;
    this.#whenReady = undefined;
    done();
    return true;
  }

  /** A subscriber's subscription is in place, or it closed before: it holds the start back no longer. */
  #acknowledged(subscriber: number): void {
    const was = this.#subscribed[subscriber];
    this.#subscribed[subscriber] = ACKNOWLEDGED;
    if (was !== WAITING) return;
    this.#unacknowledged--;
    this.#checkReady();
  }

  message(conn: LoadConnection, data: Buffer): void {
    this.#delivery(conn, data, 0, data.length, data.length);
  }

  // DataFrameHandler: a delivery read straight from the socket's bytes.
  frame(conn: LoadConnection, bytes: Buffer, start: number, length: number): void {
    this.#delivery(conn, bytes, start, length, length);
  }

  splitFrame(conn: LoadConnection, head: Buffer, length: number): void {
    this.#delivery(conn, head, 0, head.length, length);
  }

  /** One message in bytes[start, start + length) (its first bytes at least, `size` in all). */
  #delivery(conn: LoadConnection, bytes: Buffer, start: number, length: number, size: number): void {
    const stats = this.#context.stats;
    const counters = stats.counters;
    const reader = this.#reader;
    if (conn.isPublisher || !reader.readAt(bytes, start, length) || reader.stamp.publisher >= this.#ledger.publishers) {
      const subscriber = conn.index - this.#firstConnection;
      if (!conn.isPublisher && this.#subscribed[subscriber] !== ACKNOWLEDGED
        && isSubscribedReply(bytes, start, length, this.#context.plan.topic)) {
        // A reply after the wait gave up is counted neither way: that subscriber is already "assumed".
        if (this.#subscribed[subscriber] === WAITING) counters.subscriptionsAcknowledged++;
        this.#lastReplyAt = performance.now();
        this.#acknowledged(subscriber);
      } else {
        counters.other++;
      }
      return;
    }
    const stamp = reader.stamp;
    const readAt = conn.readAt;
    this.#lastDeliveryAt = readAt;
    stats.recordLatency(this.#epochOffsetMs + readAt - stamp.sentAt / 1000);
    counters.received++;
    counters.bytesReceived += size;
    const subscriber = conn.index - this.#firstConnection;
    const highest = this.#ledger.record(subscriber, stamp.publisher, stamp.seq);
    if (highest >= 0 && this.#window !== undefined
      && this.#window.reached(stamp.publisher, this.#ledger.previousHighest, highest)) this.#moved(stamp.publisher);
  }

  ended(conn: LoadConnection, _error: string | undefined, wasOpen: boolean): boolean {
    if (!wasOpen || conn.isPublisher) return false;
    const subscriber = conn.index - this.#firstConnection;
    this.#acknowledged(subscriber);
    this.#ledger.closed(subscriber);
    if (this.#window?.subscriberClosed((p) => this.#ledger.highest(subscriber, p))) {
      for (let p = 0; p < this.#complete.length; p++) this.#moved(p);
    }
    return false;
  }

  go(): void {
    if (this.#pacer !== undefined) {
      this.#pacer.start();
      return;
    }
    const now = performance.now();
    this.#movedAt.fill(now);
    // A thread whose subscribers all failed to open says so at once: it must hold nobody back.
    if (this.#window!.complete(0) === NO_SUBSCRIBERS) for (let p = 0; p < this.#complete.length; p++) this.#moved(p);
    for (const conn of this.#publishers) if (conn !== undefined) this.#ready.add(conn);
    this.#flush();
    this.#stallTimer = setInterval(() => this.#probeStalled(), WINDOW_STALL_MS / 4);
  }

  stop(): void {
    clearInterval(this.#readyTimer);
    this.#pacer?.stop();
    clearInterval(this.#stallTimer);
  }

  /**
   * Publishes may come from other threads or processes: give the last ones time to arrive. Quiet
   * is counted in polls as well as in time: after a stall of this thread, a timer runs before the
   * reads that were waiting, so time alone would call it quiet with deliveries still unread.
   */
  drained(sinceStopMs: number): boolean {
    const received = this.#context.stats.counters.received;
    this.#quietPolls = received === this.#receivedAtPoll ? this.#quietPolls + 1 : 0;
    this.#receivedAtPoll = received;
    return sinceStopMs >= DELIVERY_GRACE_MS && this.#quietPolls >= DELIVERY_QUIET_POLLS
      && performance.now() - this.#lastDeliveryAt >= DELIVERY_QUIET_MS;
  }

  settle(): void {
    this.#ledger.settle();
  }

  acked(acks: readonly number[]): void {
    const now = performance.now();
    for (let k = 0; k < acks.length; k += 2) {
      const publisher = acks[k];
      if (acks[k + 1] <= this.#complete[publisher]) continue;
      this.#complete[publisher] = acks[k + 1];
      this.#movedAt[publisher] = now;
      this.#wake(publisher);
    }
  }

  /** The local subscribers' complete sequence of `publisher` moved. */
  #moved(publisher: number): void {
    const complete = this.#window!.complete(publisher);
    if (this.#context.plan.shards === 1) {
      this.#complete[publisher] = complete;
      this.#movedAt[publisher] = performance.now();
      this.#wake(publisher);
      return;
    }
    this.#changed.add(publisher);
    if (this.#reportScheduled) return;
    this.#reportScheduled = true;
    setImmediate(() => {
      this.#reportScheduled = false;
      const acks: number[] = [];
      for (const p of this.#changed) acks.push(p, this.#window!.complete(p));
      this.#changed.clear();
      this.#context.reportAcks(acks);
    });
  }

  #wake(publisher: number): void {
    const local = publisher - this.#context.plan.firstPublisher;
    const conn = this.#publishers[local];
    if (conn === undefined || local < 0) return;
    this.#ready.add(conn);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // After the read being handled: every delivery in it counted, then one write per publisher.
    process.nextTick(() => this.#flush());
  }

  /** Closed loop: each ready publisher sends up to its window, in one write. */
  #flush(): void {
    this.#flushScheduled = false;
    if (this.#context.stopping) return;
    const firstPublisher = this.#context.plan.firstPublisher;
    for (const conn of this.#ready) {
      const publisher = firstPublisher + conn.index - this.#firstConnection - this.#subscribers;
      const complete = this.#complete[publisher];
      const limit = complete + this.#inFlight;
      // With no subscriber left there is nobody to publish to.
      if (complete >= NO_SUBSCRIBERS || conn.nextSeq > limit || !conn.isOpen) continue;
      conn.cork();
      while (conn.nextSeq <= limit && this.#send(conn, publisher, performance.now())) { /* fill the window */ }
      conn.uncork();
    }
    this.#ready.clear();
  }

  /** A window that has not moved for WINDOW_STALL_MS waits for a delivery that will not come. */
  #probeStalled(): void {
    const now = performance.now();
    const firstPublisher = this.#context.plan.firstPublisher;
    const span = this.#window!.size;
    this.#publishers.forEach((conn, local) => {
      const publisher = firstPublisher + local;
      if (conn === undefined || !conn.isOpen || now - this.#movedAt[publisher] < WINDOW_STALL_MS) return;
      const complete = this.#complete[publisher];
      if (complete >= NO_SUBSCRIBERS || conn.nextSeq > complete + span) return;
      this.#movedAt[publisher] = now;
      if (this.#send(conn, publisher, now)) this.#context.stats.counters.windowProbes++;
    });
  }

  #send(conn: LoadConnection, publisher: number, sentAt: number): boolean {
    const message = this.#template.stamp(Math.round((this.#epochOffsetMs + sentAt) * 1000), publisher, conn.nextSeq);
    if (!conn.send(message, false)) return false;
    conn.nextSeq++;
    const counters = this.#context.stats.counters;
    counters.sent++;
    counters.bytesSent += message.length;
    return true;
  }

  #publishPaced(intendedAt: number): void {
    const publishers = this.#publishers;
    const firstPublisher = this.#context.plan.firstPublisher;
    // Publishers that closed are skipped over; the list is short.
    for (let tries = 0; tries < publishers.length; tries++) {
      const local = this.#next++ % publishers.length;
      const conn = publishers[local];
      if (conn === undefined || !conn.isOpen) continue;
      if (conn.bufferedAmount > PACED_QUEUE_LIMIT) break;
      this.#batch.add(conn);
      if (!this.#send(conn, firstPublisher + local, intendedAt)) break;
      return;
    }
    this.#context.stats.counters.skipped++;
  }
}
