/**
 * The actual send times of one connection's paced messages, oldest first: an echo reply answers
 * the oldest message in flight, so its service time (from the actual send, where its latency
 * counts from the intended one) is the reply's arrival minus the time taken from here.
 * A ring of doubles that grows when more messages are in flight than it holds.
 */
export class SendTimes {
  #times = new Float64Array(16);
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(atMs: number): void {
    if (this.#length === this.#times.length) this.#grow();
    this.#times[(this.#head + this.#length) & (this.#times.length - 1)] = atMs;
    this.#length++;
  }

  /** The oldest time, removed; NaN when none is queued. */
  shift(): number {
    if (this.#length === 0) return NaN;
    const at = this.#times[this.#head];
    this.#head = (this.#head + 1) & (this.#times.length - 1);
    this.#length--;
    return at;
  }

  #grow(): void {
    const bigger = new Float64Array(this.#times.length * 2);
    for (let i = 0; i < this.#length; i++) bigger[i] = this.#times[(this.#head + i) & (this.#times.length - 1)];
    this.#times = bigger;
    this.#head = 0;
  }
}
