/**
 * The writes one socket has queued and not yet flushed, oldest first, as the thread's send budget
 * counted them: the end of each in the socket's stream of written bytes, and the shared broadcast
 * frame it was, if it was one. What the kernel has taken is `written - socket.writableLength`
 * (Node's queue counts every byte until its write completes), so the writes that end at or before
 * it are settled with the budget: lazily, at this socket's next write, at its 'drain', and when
 * the budget asks every socket before it decides anything (`settle`). No callback per write: a
 * write callback makes Node take its slow writev path (a closure and a copy of the queue per
 * writev, a call per chunk) on broadcast's hottest path. And numbers, not frames, in the list: a
 * pointer to a new object stored in a long-lived array costs a write barrier per delivery.
 */
import type { SharedFrame } from '../protocol/shared-frame.js';
import { QUEUED_WRITE_OVERHEAD, type SendBudget } from './send-budget.js';

/**
 * Entries an emptied list keeps its room for: enough for a busy subscriber's writes of one turn
 * (a list reallocated every turn is garbage on broadcast's hottest path), few enough that a
 * connection gone idle keeps little; past it the room is given back.
 */
const ROOM_KEPT = 32;

export class QueuedWrites {
  readonly #budget: SendBudget;
  /** Oldest first: a write's own byte count (> 0), or -(1 + the number) of the shared frame it was. */
  #entries: number[] = [];
  #head = 0;
  /** Entries in use end here; slots past it are stale room. */
  #tail = 0;
  /** Bytes passed to the socket so far, and the end of the last settled write. */
  #written = 0;
  #settledTo = 0;

  constructor(budget: SendBudget) {
    this.#budget = budget;
  }

  /** A write of `bytes` of this socket's own. */
  queued(bytes: number): void {
    this.#push(bytes, bytes);
    this.#budget.add(bytes + QUEUED_WRITE_OVERHEAD);
  }

  /** A write of a frame other sockets of the thread may hold too: its bytes count once. */
  queuedShared(frame: SharedFrame): void {
    this.#push(-1 - this.#budget.addShared(frame), frame.bytes.length);
  }

  /** Settles the writes the kernel has taken, given the socket's queue now (`writableLength`). */
  settle(stillQueued: number): void {
    if (this.#head < this.#tail) this.#settleTo(this.#written - stillQueued);
  }

  /** No write is waiting to be settled. */
  get isEmpty(): boolean {
    return this.#head === this.#tail;
  }

  /** Ready for another socket's stream (only when empty: nothing is left to settle). */
  reset(): void {
    this.#written = 0;
    this.#settledTo = 0;
  }

  /** The socket is gone: what never left is released now. */
  releaseAll(): void {
    this.#settleTo(Infinity);
  }

  #push(entry: number, bytes: number): void {
    this.#written += bytes;
    const tail = this.#tail++;
    if (tail < this.#entries.length) this.#entries[tail] = entry;
    else this.#entries.push(entry);
  }

  #settleTo(flushedTo: number): void {
    const entries = this.#entries, budget = this.#budget;
    let head = this.#head;
    let settledTo = this.#settledTo;
    while (head < this.#tail) {
      const entry = entries[head]!;
      if (entry > 0) {
        if (settledTo + entry > flushedTo) break;
        settledTo += entry;
        budget.remove(entry + QUEUED_WRITE_OVERHEAD);
      } else {
        const seq = -1 - entry;
        const end = settledTo + budget.heldFrame(seq).bytes.length;
        if (end > flushedTo) break;
        settledTo = end;
        budget.releaseShared(seq);
      }
      head++;
    }
    this.#settledTo = settledTo;
    if (head < this.#tail) {
      this.#head = head;
      return;
    }
    if (entries.length > ROOM_KEPT) this.#entries = [];
    this.#head = 0;
    this.#tail = 0;
  }
}
