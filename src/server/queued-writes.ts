/**
 * The writes one socket has queued and not yet flushed, oldest first, as the thread's send budget
 * counted them: a byte count, or a shared broadcast frame. Node calls each write's callback
 * once it is flushed, in the order of the writes (corked writes leave in one writev and their
 * callbacks run in order), so each call of `flushed` settles the oldest entry with the budget.
 * One per link, made at its first write; its callback is the one closure it costs.
 */
import type { SharedFrame } from '../protocol/shared-frame.js';
import { QUEUED_WRITE_OVERHEAD, type SendBudget } from './send-budget.js';

/** Entries an emptied list keeps its room for (a few: idle connections keep it); past it the room is given back. */
const ROOM_KEPT = 8;

export class QueuedWrites {
  /** The callback to pass with each write of this socket. */
  readonly flushed: () => void;
  readonly #budget: SendBudget;
  #entries: (number | SharedFrame)[] = [];
  #head = 0;
  /** Entries in use end here; slots past it are stale room. */
  #tail = 0;

  constructor(budget: SendBudget) {
    this.#budget = budget;
    this.flushed = () => this.#settleOldest();
  }

  /** A write of `bytes` of this socket's own. */
  queued(bytes: number): void {
    this.#push(bytes);
    this.#budget.add(bytes + QUEUED_WRITE_OVERHEAD);
  }

  /** A write of a frame other sockets of the thread may hold too: its bytes count once. */
  queuedShared(frame: SharedFrame): void {
    this.#push(frame);
    this.#budget.hold(frame);
    this.#budget.add(QUEUED_WRITE_OVERHEAD);
  }

  /** The socket is gone: what never left is released now; callbacks still to come find nothing. */
  releaseAll(): void {
    for (let i = this.#head; i < this.#tail; i++) this.#settle(this.#entries[i]!);
    this.#entries = [];
    this.#head = 0;
    this.#tail = 0;
  }

  #push(entry: number | SharedFrame): void {
    const tail = this.#tail++;
    if (tail < this.#entries.length) this.#entries[tail] = entry;
    else this.#entries.push(entry);
  }

  #settleOldest(): void {
    const head = this.#head;
    if (head >= this.#tail) return;
    const entries = this.#entries;
    this.#settle(entries[head]!);
    entries[head] = 0;
    if (head + 1 === this.#tail) {
      if (entries.length > ROOM_KEPT) this.#entries = [];
      this.#head = 0;
      this.#tail = 0;
    } else {
      this.#head = head + 1;
    }
  }

  #settle(entry: number | SharedFrame): void {
    if (typeof entry === 'number') {
      this.#budget.remove(entry + QUEUED_WRITE_OVERHEAD);
    } else {
      this.#budget.release(entry);
      this.#budget.remove(QUEUED_WRITE_OVERHEAD);
    }
  }
}
