/**
 * Closed-loop broadcast (`--in-flight K`): a publisher may run at most K publishes ahead of the
 * slowest subscriber. This is the subscriber side, one per shard: for each publisher, how many of
 * the shard's subscribers have reached each sequence, and the highest sequence every one of them
 * has reached (`complete`). Counting per sequence in a ring makes a delivery O(1): no scan of the
 * subscribers to find the slowest. A gap (a delivery the server dropped) counts as reached once a
 * later sequence arrives, so a lossy server slows the loop instead of stopping it.
 */

/** Reported for a publisher when the shard has no subscriber left: it holds nobody back. */
export const NO_SUBSCRIBERS = Number.MAX_SAFE_INTEGER;

export class PublishWindow {
  readonly #publishers: number;
  /** Ring size per publisher (a power of two): sequences in (complete, complete + size] are counted. */
  readonly size: number;
  readonly #mask: number;
  readonly #reached: Int32Array;
  readonly #complete: Float64Array;
  #needed = 0;

  constructor(publishers: number, span: number) {
    this.#publishers = publishers;
    let size = 2;
    while (size < span) size *= 2;
    this.size = size;
    this.#mask = size - 1;
    this.#reached = new Int32Array(publishers * size);
    this.#complete = new Float64Array(publishers).fill(-1);
  }

  /** The highest sequence of `publisher` that every subscriber here has reached (-1: none yet). */
  complete(publisher: number): number {
    return this.#needed === 0 ? NO_SUBSCRIBERS : this.#complete[publisher];
  }

  subscriberOpened(): void {
    this.#needed++;
  }

  /**
   * A subscriber left; `highestOf(p)` is the highest sequence it had reached. Its counts are taken
   * back so the others alone decide. Returns true when a publisher's `complete` moved.
   */
  subscriberClosed(highestOf: (publisher: number) => number): boolean {
    this.#needed--;
    let moved = false;
    for (let p = 0; p < this.#publishers; p++) {
      const complete = this.#complete[p];
      const last = Math.min(highestOf(p), complete + this.size);
      for (let q = complete + 1; q <= last; q++) this.#reached[p * this.size + (q & this.#mask)]--;
      if (this.#advance(p)) moved = true;
    }
    return moved;
  }

  /** A subscriber's highest sequence of `publisher` rose from `from` to `to`; true when `complete` moved. */
  reached(publisher: number, from: number, to: number): boolean {
    const complete = this.#complete[publisher];
    const base = publisher * this.size;
    const first = Math.max(from, complete) + 1;
    const last = Math.min(to, complete + this.size);
    for (let q = first; q <= last; q++) this.#reached[base + (q & this.#mask)]++;
    return this.#advance(publisher);
  }

  #advance(publisher: number): boolean {
    if (this.#needed <= 0) return true;
    const base = publisher * this.size;
    let complete = this.#complete[publisher];
    const before = complete;
    for (;;) {
      const slot = base + ((complete + 1) & this.#mask);
      if (this.#reached[slot] < this.#needed) break;
      this.#reached[slot] = 0;
      complete++;
    }
    this.#complete[publisher] = complete;
    return complete !== before;
  }
}
