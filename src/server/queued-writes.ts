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
 *
 * Small frames are not written one by one: a read's replies and a turn's broadcast frames wait
 * here (`batch`) and leave copied into one buffer, one write, when the read is handled or the
 * turn's deliveries are written (`takeBatch`). Writes through Node's Writable each cost a
 * buffered-write record and a chunk in the writev; one copy of a hundred bytes costs less. Their
 * bytes count as the socket's own from the write on (the copy is the socket's, not a shared frame).
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
  /** This turn's small frames, not yet passed to the socket; slots from #batchCount on are empty. */
  #batch: (Uint8Array | undefined)[] = [];
  #batchCount = 0;
  #batchBytes = 0;

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

  /** A small frame that leaves with the rest of this turn's (takeBatch); counted now. */
  batch(frame: Uint8Array): void {
    const count = this.#batchCount++;
    if (count < this.#batch.length) this.#batch[count] = frame;
    else this.#batch.push(frame);
    this.#batchBytes += frame.length;
    this.#budget.add(frame.length);
  }

  /** Bytes batched and not yet taken: queued for the socket, not yet in its `writableLength`. */
  get batchedBytes(): number {
    return this.#batchBytes;
  }

  /**
   * This turn's batched frames as one buffer to write now (the frame itself when there is one),
   * entered as one write; undefined when none is batched.
   */
  takeBatch(): Uint8Array | undefined {
    const count = this.#batchCount, bytes = this.#batchBytes, frames = this.#batch;
    if (count === 0) return undefined;
    let out: Uint8Array;
    if (count === 1) {
      out = frames[0]!;
      frames[0] = undefined;
    } else {
      out = Buffer.allocUnsafe(bytes);
      let at = 0;
      for (let i = 0; i < count; i++) {
        const frame = frames[i]!;
        out.set(frame, at);
        at += frame.length;
        frames[i] = undefined;
      }
    }
    if (count > ROOM_KEPT) this.#batch = [];
    this.#batchCount = 0;
    this.#batchBytes = 0;
    this.#push(bytes, bytes);
    this.#budget.add(QUEUED_WRITE_OVERHEAD);
    return out;
  }

  /** Settles the writes the kernel has taken, given the socket's queue now (`writableLength`). */
  settle(stillQueued: number): void {
    if (this.#head < this.#tail) this.#settleTo(this.#written - stillQueued);
  }

  /** No write is waiting to be settled, and none to be taken. */
  get isEmpty(): boolean {
    return this.#head === this.#tail && this.#batchCount === 0;
  }

  /** Ready for another socket's stream (only when empty: nothing is left to settle). */
  reset(): void {
    this.#written = 0;
    this.#settledTo = 0;
  }

  /** The socket is gone: what never left is released now. */
  releaseAll(): void {
    this.#settleTo(Infinity);
    if (this.#batchCount === 0) return;
    this.#budget.remove(this.#batchBytes);
    this.#batch = [];
    this.#batchCount = 0;
    this.#batchBytes = 0;
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
