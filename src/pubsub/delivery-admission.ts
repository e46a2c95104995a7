/**
 * Whether a subscriber takes a broadcast delivery now. Two bounds: its own socket's backlog
 * from earlier turns (slowSubscriberBytes: a reader that does not keep up), and, while the
 * thread's send queues together are near their limit, its share of them. A delivery refused is
 * counted, and the slow-subscriber policy says what else happens: 'drop' only skips it, 'close'
 * closes the subscriber once (with 1013 when it is slow; dropped at once while the thread's
 * queues shed, since a close frame would wait behind the very backlog being shed).
 */

/** What happens to deliveries for a subscriber whose socket queue is over the limit. */
export type SlowSubscriberPolicy = 'drop' | 'close';

/** The thread's send queues as the broker sees them: whether deliveries are being shed, and to whom. */
export interface SendPressure {
  /** The thread's queues together are near their limit: deliveries to the fullest queues are shed. */
  readonly shedding: boolean;
  /** The queues are at their limit, less a margin: under 'drop', no delivery is made. */
  readonly full: boolean;
  /** Queued bytes past which a subscriber's deliveries are shed while `shedding`. */
  fairShare(): number;
}

/** A subscriber as its admission sees it. */
export interface AdmittedSubscriber {
  /** Bytes queued on its socket in earlier turns and not yet written. */
  readonly backlog: number;
  /** Bytes queued on its socket now, this turn's deliveries included. */
  readonly queued: number;
  /** Asks the connection to close with 1013 (the 'close' slow-subscriber policy). */
  closeAsTooSlow(): void;
  /**
   * Drops the connection at once, releasing its queue (the 'close' policy when the thread's send
   * queues are shedding: a close frame would wait behind the very backlog being shed).
   */
  drop(): void;
}

export interface AdmissionOptions {
  /** Socket queue, in bytes, above which a subscriber counts as slow. */
  slowSubscriberBytes: number;
  slowPolicy: SlowSubscriberPolicy;
}

/** The counters admission keeps (the broker's). */
export interface AdmissionStats {
  /** Deliveries not made because the subscriber was slow ('drop' policy). */
  dropped: number;
  /**
   * Deliveries not made because the thread's send queues were near maxBufferedBytes and this
   * subscriber's queue was past its share ('drop' policy).
   */
  droppedBufferLimit: number;
  /** Subscribers closed with 1013, or dropped while the thread's queues were shedding ('close' policy). */
  closedSlow: number;
}

export class DeliveryAdmission {
  readonly #options: AdmissionOptions;
  /** The thread's send queues, when they have a limit. */
  readonly #pressure: SendPressure | undefined;
  readonly #stats: AdmissionStats;
  /** Subscribers already closed by the policy (closed once). */
  readonly #closing = new WeakSet<AdmittedSubscriber>();

  constructor(options: AdmissionOptions, pressure: SendPressure | undefined, stats: AdmissionStats) {
    this.#options = options;
    this.#pressure = pressure;
    this.#stats = stats;
  }

  /**
   * Whether `subscriber` takes `count` more deliveries now, asked at every delivery (the
   * thread's total moves with each one); those it does not take are counted.
   */
  admits(subscriber: AdmittedSubscriber, count: number): boolean {
    const { slowSubscriberBytes, slowPolicy } = this.#options;
    if (subscriber.backlog > slowSubscriberBytes) {
      if (slowPolicy === 'drop') this.#stats.dropped += count;
      else this.#close(subscriber, 'slow');
      return false;
    }
    const pressure = this.#pressure;
    if (pressure === undefined || !pressure.shedding) return true;
    if (subscriber.queued < pressure.fairShare() && !(slowPolicy === 'drop' && pressure.full)) return true;
    if (slowPolicy === 'drop') this.#stats.droppedBufferLimit += count;
    else this.#close(subscriber, 'shedding');
    return false;
  }

  #close(subscriber: AdmittedSubscriber, why: 'slow' | 'shedding'): void {
    if (this.#closing.has(subscriber)) return;
    this.#closing.add(subscriber);
    this.#stats.closedSlow++;
    if (why === 'slow') subscriber.closeAsTooSlow();
    else subscriber.drop();
  }
}
