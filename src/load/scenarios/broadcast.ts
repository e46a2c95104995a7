/**
 * broadcast: subscribers subscribe to the topic as they open; once every shard is connected the
 * publishers publish at the shard's share of --rate, round-robin. A delivery's latency is the time
 * since the publish's (intended) send time, read from its data: wall-clock µs, so publishers and
 * subscribers may live in different threads or processes of this machine.
 */
import type { LoadConnection } from '../connection.js';
import { epochMicros, PublishTemplate, readDeliverySentAt, subscribeMessage } from '../pubsub-format.js';
import { CorkBatch, PACED_QUEUE_LIMIT, RatePacer, type ScenarioContext, type ScenarioDriver } from './scenario.js';

/** After the stop, subscribers listen at least this long for the deliveries of the last publishes… */
const DELIVERY_GRACE_MS = 300;
/** …and until no delivery has come for this long (the shard bounds the whole wait). */
const DELIVERY_QUIET_MS = 100;

export class BroadcastScenario implements ScenarioDriver {
  readonly #context: ScenarioContext;
  readonly #template: PublishTemplate;
  readonly #publishers: LoadConnection[] = [];
  readonly #pacer: RatePacer;
  readonly #batch = new CorkBatch();
  #next = 0;
  #seq = 0;
  #lastDeliveryAt = 0;
  /** performance.now() → µs since the epoch, for the intended send times. */
  readonly #epochOffsetMs = performance.timeOrigin;

  constructor(context: ScenarioContext) {
    this.#context = context;
    this.#template = new PublishTemplate(context.plan.topic, context.plan.size, context.plan.payload);
    this.#pacer = new RatePacer(context.plan.rate, (at) => this.#publish(at), () => this.#batch.begin(), () => this.#batch.flush());
  }

  opened(conn: LoadConnection): void {
    if (conn.isPublisher) this.#publishers.push(conn);
    else conn.sendText(subscribeMessage(this.#context.plan.topic));
  }

  message(conn: LoadConnection, data: Buffer): void {
    const stats = this.#context.stats;
    const sentAt = conn.isPublisher ? -1 : readDeliverySentAt(data);
    if (sentAt < 0) {
      stats.counters.other++;
      return;
    }
    this.#lastDeliveryAt = performance.now();
    stats.recordLatency((epochMicros() - sentAt) / 1000);
    stats.counters.received++;
    stats.counters.bytesReceived += data.length;
  }

  go(): void {
    this.#pacer.start();
  }

  stop(): void {
    this.#pacer.stop();
  }

  /** Publishes may come from other threads or processes: give the last ones time to arrive. */
  drained(sinceStopMs: number): boolean {
    return sinceStopMs >= DELIVERY_GRACE_MS && performance.now() - this.#lastDeliveryAt >= DELIVERY_QUIET_MS;
  }

  #publish(intendedAt: number): void {
    const counters = this.#context.stats.counters;
    const publishers = this.#publishers;
    // Publishers that closed are skipped over; the list is short.
    for (let tries = 0; tries < publishers.length; tries++) {
      const conn = publishers[this.#next++ % publishers.length];
      if (!conn.isOpen) continue;
      if (conn.bufferedAmount > PACED_QUEUE_LIMIT) break;
      this.#batch.add(conn);
      const message = this.#template.stamp(Math.round((this.#epochOffsetMs + intendedAt) * 1000), this.#seq++);
      if (!conn.send(message, false)) break;
      counters.sent++;
      counters.bytesSent += message.length;
      return;
    }
    counters.skipped++;
  }
}
