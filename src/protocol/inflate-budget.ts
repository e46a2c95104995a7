/**
 * The inflated output one thread may hold for messages being decompressed at once: each
 * connection is bounded by maxPayload, this bounds their sum (without it, 200 connections each
 * sending 16 KiB that inflates to 16 MiB made 3.2 GB of output at once).
 *
 * A message asks for its inflated size once that size is known (message-inflater.ts measures
 * it before it keeps any output), and holds it until the message is handed to the application.
 * Requests are granted in order of arrival while they fit; one that does not fit waits (its
 * connection reads nothing meanwhile), and so do those after it, so a large message is never
 * overtaken for ever by small ones. A message larger than the whole budget is granted when
 * nothing else is held: it waits its turn, never fails for the budget alone. So what is held
 * never passes max(limit, the largest message granted).
 *
 * Plain bookkeeping, no timers or I/O: the connection server makes one per thread and passes it
 * to every connection's protocol.
 */

export interface InflateBudgetStats {
  /** Bytes granted and not yet released. */
  inUseBytes: number;
  /** The most held at once since start. */
  peakBytes: number;
  /** Messages granted their bytes since start (each was inflated or is being inflated). */
  granted: number;
  /** Messages that had to wait for room. */
  waited: number;
  /** Messages waiting now. */
  waiting: number;
}

/** One message's claim on the budget: waiting, then granted, then released. */
export interface InflateReservation {
  /** Gives the bytes back (or stops waiting); a second call does nothing. */
  release(): void;
}

interface Claim extends InflateReservation {
  bytes: number;
  granted: boolean;
  released: boolean;
  onGranted: () => void;
}

export class InflateBudget {
  readonly limit: number;
  #inUse = 0;
  #peak = 0;
  #waited = 0;
  #granted = 0;
  /** Bytes granted since the budget was last empty. */
  #grantedSinceEmpty = 0;
  readonly #queue: Claim[] = [];
  readonly #onBurstOver: (() => void) | undefined;

  /**
   * @param limit bytes held at once (a message larger than that is granted when nothing else is held)
   * @param onBurstOver called when the budget empties after at least `limit` bytes went through
   *   it: a burst is over, and what it allocated can be given back
   */
  constructor(limit: number, onBurstOver?: () => void) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`inflate budget must be a whole number ≥ 1, got ${limit}`);
    this.limit = limit;
    this.#onBurstOver = onBurstOver;
  }

  get stats(): InflateBudgetStats {
    return { inUseBytes: this.#inUse, peakBytes: this.#peak, granted: this.#granted, waited: this.#waited, waiting: this.#queue.length };
  }

  /**
   * Claims `bytes`; `onGranted` runs once they are granted: before this returns when they fit
   * now and nobody waits, else later, from the release() that made room.
   */
  reserve(bytes: number, onGranted: () => void): InflateReservation {
    const claim: Claim = {
      bytes, granted: false, released: false, onGranted,
      release: () => this.#release(claim),
    };
    if (this.#queue.length === 0 && this.#fits(bytes)) {
      this.#grant(claim);
    } else {
      this.#waited++;
      this.#queue.push(claim);
    }
    return claim;
  }

  #fits(bytes: number): boolean {
    return this.#inUse === 0 || this.#inUse + bytes <= this.limit;
  }

  #grant(claim: Claim): void {
    claim.granted = true;
    this.#granted++;
    this.#inUse += claim.bytes;
    this.#grantedSinceEmpty += claim.bytes;
    if (this.#inUse > this.#peak) this.#peak = this.#inUse;
    claim.onGranted();
  }

  #release(claim: Claim): void {
    if (claim.released) return;
    claim.released = true;
    if (!claim.granted) {
      this.#queue.splice(this.#queue.indexOf(claim), 1);
      // The head may have been what held the others back.
      this.#grantWaiting();
      return;
    }
    this.#inUse -= claim.bytes;
    this.#grantWaiting();
    if (this.#inUse === 0 && this.#queue.length === 0) {
      const burst = this.#grantedSinceEmpty >= this.limit;
      this.#grantedSinceEmpty = 0;
      if (burst) this.#onBurstOver?.();
    }
  }

  #grantWaiting(): void {
    while (this.#queue.length > 0 && this.#fits(this.#queue[0]!.bytes)) this.#grant(this.#queue.shift()!);
  }
}
