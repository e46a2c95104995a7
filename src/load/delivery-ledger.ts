/**
 * Loss accounting of the broadcast scenario: what each subscriber received from each publisher,
 * against the publisher's sequence numbers. Per (subscriber, publisher) it keeps the highest
 * sequence seen and which of the 32 below it arrived, so a message that comes again is a duplicate
 * and one that comes after a later one is reordered, with no allocation per delivery. What was never
 * received is counted at the end against what the publishers sent (see `settle`).
 */
import type { Counters } from './stats.js';

/** Sequence numbers below the highest whose arrival is remembered exactly. */
const RECENT = 32;
const SEQ_MODULUS = 2 ** 32;

const enum Slot { UNUSED, OPEN, CLOSED }

export class DeliveryLedger {
  readonly #publishers: number;
  /** Highest sequence received, unwrapped (may pass 2^32), per subscriber × publisher; -1: none. */
  readonly #highest: Float64Array;
  /** Bit k: sequence highest - 1 - k arrived. */
  readonly #recent: Int32Array;
  /** Distinct deliveries per subscriber (duplicates not counted). */
  readonly #distinct: Float64Array;
  readonly #state: Uint8Array;
  readonly #counters: Counters;
  #settled = false;
  /** The highest sequence before the last `record` that raised it. */
  previousHighest = -1;

  constructor(subscribers: number, publishers: number, counters: Counters) {
    this.#publishers = publishers;
    this.#highest = new Float64Array(subscribers * publishers).fill(-1);
    this.#recent = new Int32Array(subscribers * publishers);
    this.#distinct = new Float64Array(subscribers);
    this.#state = new Uint8Array(subscribers);
    this.#counters = counters;
  }

  get publishers(): number {
    return this.#publishers;
  }

  opened(subscriber: number): void {
    this.#state[subscriber] = Slot.OPEN;
  }

  /** The subscriber's connection ended before the end of the run: what it missed up to its last delivery is lost. */
  closed(subscriber: number): void {
    if (!this.#settled) this.#state[subscriber] = Slot.CLOSED;
  }

  /** The subscriber's highest sequence from `publisher`, unwrapped; -1 when none came. */
  highest(subscriber: number, publisher: number): number {
    return this.#highest[subscriber * this.#publishers + publisher];
  }

  /**
   * Records delivery `seq` (mod 2^32) of `publisher` to `subscriber`. Returns the new highest
   * sequence when it rose (`previousHighest` holds the one before), else -1: a duplicate or a
   * late (reordered) delivery, counted here.
   */
  record(subscriber: number, publisher: number, seq: number): number {
    const i = subscriber * this.#publishers + publisher;
    const highest = this.#highest[i];
    const wrapped = highest < 0 ? SEQ_MODULUS - 1 : highest % SEQ_MODULUS;
    // The signed 32-bit distance from the highest: sequences are compared across the wrap.
    const ahead = (seq - wrapped) | 0;
    if (ahead > 0) {
      this.#recent[i] = (ahead < RECENT ? this.#recent[i] << ahead : 0) | (ahead <= RECENT ? 1 << (ahead - 1) : 0);
      this.#highest[i] = highest + ahead;
      this.#distinct[subscriber]++;
      this.previousHighest = highest;
      return highest + ahead;
    }
    const counters = this.#counters;
    const bit = -ahead - 1;
    if (ahead === 0 || (bit < RECENT && (this.#recent[i] & (1 << bit)) !== 0)) {
      counters.duplicated++;
      return -1;
    }
    // Older than the remembered window: counted as reordered (it cannot be told from a duplicate).
    if (bit < RECENT) this.#recent[i] |= 1 << bit;
    counters.reordered++;
    this.#distinct[subscriber]++;
    return -1;
  }

  /**
   * At the end of the run (before the closing handshakes): subscribers still open are counted in
   * `subscribersAtEnd` and their distinct deliveries in `deliveredAtEnd` (the coordinator compares
   * them with every publish sent); a subscriber that closed early adds the gaps below its last
   * delivery to `lost`.
   */
  settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    const counters = this.#counters;
    const publishers = this.#publishers;
    for (let s = 0; s < this.#state.length; s++) {
      if (this.#state[s] === Slot.OPEN) {
        counters.subscribersAtEnd++;
        counters.deliveredAtEnd += this.#distinct[s];
      } else if (this.#state[s] === Slot.CLOSED) {
        let expected = 0;
        for (let p = 0; p < publishers; p++) expected += this.#highest[s * publishers + p] + 1;
        counters.lost += expected - this.#distinct[s];
      }
    }
  }
}
