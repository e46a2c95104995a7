/**
 * Subscribers joining a topic that keeps history, between their subscribe and the moment the
 * topic's history answered (its position, and the messages a recovery asked for). The live
 * subscription is registered at once, so nothing published after the history was read can be
 * missed; what arrives live meanwhile is held here, and the join is made by offset: held and
 * later live deliveries at or below the last offset the history answered for are dropped
 * (they are in the replay, or before the client's start), the rest follow the replay in order.
 *
 * Costs nothing to a topic nobody is joining: the broker asks only while `size` is not 0, and
 * then one Map lookup per publish of a topic that has history.
 */

/** A delivery held for a joining subscriber: its offset and bytes. */
interface HeldDelivery {
  offset: number;
  payload: Uint8Array;
  isBinary: boolean;
}

/** A joining subscriber: held deliveries until the history answers, then the offset to skip through. */
interface Joining {
  held: HeldDelivery[] | undefined;
  /** Live deliveries at or below this are already in the replay (after the answer). */
  skipThrough: number;
}

export class RecoveringSubscribers<S> {
  /** Topic → its joining subscribers. */
  readonly #topics = new Map<string, Map<S, Joining>>();

  get size(): number {
    return this.#topics.size;
  }

  /** `subscriber` joins `topic`: hold its live deliveries until answered(). */
  hold(topic: string, subscriber: S): void {
    let joining = this.#topics.get(topic);
    if (joining === undefined) {
      joining = new Map();
      this.#topics.set(topic, joining);
    }
    joining.set(subscriber, { held: [], skipThrough: 0 });
  }

  /** True while `subscriber` waits for the history of `topic` (its subscribe not answered yet). */
  waiting(topic: string, subscriber: S): boolean {
    return this.#topics.get(topic)?.get(subscriber)?.held !== undefined;
  }

  /** The joining subscribers of `topic` (undefined: none; then deliver as usual). */
  joining(topic: string): Map<S, Joining> | undefined {
    return this.#topics.get(topic);
  }

  /**
   * A live delivery of `offset` to a joining subscriber: true when it is held or skipped
   * (the caller does not deliver it), false when it goes as usual.
   */
  intercept(joining: Map<S, Joining>, topic: string, subscriber: S, offset: number, payload: Uint8Array, isBinary: boolean): boolean {
    const state = joining.get(subscriber);
    if (state === undefined) return false;
    if (state.held !== undefined) {
      state.held.push({ offset, payload, isBinary });
      return true;
    }
    if (offset <= state.skipThrough) return true;
    // Past the join: this subscriber is live like any other from now on.
    this.#forget(joining, topic, subscriber);
    return false;
  }

  /**
   * The history answered up to `through`: returns the held deliveries past it (to send after the
   * replay); later live ones at or below it are skipped. Undefined when the subscriber stopped
   * joining meanwhile (unsubscribed or closed).
   */
  answered(topic: string, subscriber: S, through: number): HeldDelivery[] | undefined {
    const joining = this.#topics.get(topic);
    const state = joining?.get(subscriber);
    if (state === undefined || state.held === undefined) return undefined;
    const after = state.held.filter((held) => held.offset > through);
    state.held = undefined;
    state.skipThrough = after.length > 0 ? after[after.length - 1]!.offset : through;
    // Nothing can arrive out of order past the last offset seen: a live one after it goes as usual.
    if (after.length > 0) this.#forget(joining!, topic, subscriber);
    return after;
  }

  /** Forgets `subscriber`'s join of `topic` (unsubscribed). */
  cancel(topic: string, subscriber: S): void {
    const joining = this.#topics.get(topic);
    if (joining !== undefined) this.#forget(joining, topic, subscriber);
  }

  /** Forgets every join of `subscriber` (it closed). */
  cancelAll(subscriber: S): void {
    for (const [topic, joining] of this.#topics) this.#forget(joining, topic, subscriber);
  }

  #forget(joining: Map<S, Joining>, topic: string, subscriber: S): void {
    if (joining.delete(subscriber) && joining.size === 0) this.#topics.delete(topic);
  }
}
