/**
 * What one thread lets its connections hold in send queues: bytes written for peers and not yet
 * taken by the kernel. Each connection is capped on its own (SocketLink refuses a write past
 * `highWaterMark + maxPayload`); this bounds the thread's total, `maxBufferedBytes`.
 *
 * The total is kept as writes are queued (SocketLink tells it of each), so it is known at every
 * enqueue at the cost of an addition; writes the kernel has taken are settled lazily (see
 * queued-writes.ts), and every connection is settled, once per turn at most, before the total
 * decides anything (shedding, dropping, stats): until then it can only be too high. It counts
 * what the queues really hold: a broadcast frame shared by many subscribers once (SharedFrame),
 * and each queued write's own bookkeeping (Node's write record, our entry) as
 * QUEUED_WRITE_OVERHEAD, which is what a flood of small deliveries is mostly made of.
 *
 * Three marks. From 7/8 of the limit on, broadcast deliveries are shed by the slow-subscriber
 * policy (the broker asks `shedding` and `fairShare()`): a subscriber whose queue is past its
 * share of the limit gets no more deliveries ('drop') or is dropped ('close'), so that readers
 * keep up. From 15/16 on (`full`), under 'drop' no subscriber gets one: the queues under their
 * share could otherwise fill what the fullest ones hold again, and the total stays under the
 * limit. Past the limit itself (writes that are not broadcasts: replies, application sends), the
 * connections holding the most are dropped at once, those already closing first: their queues
 * are released now, not at the close timeout.
 */
import type { SharedFrame } from '../protocol/shared-frame.js';
import { CloseCode } from '../protocol/close-codes.js';

/**
 * Bytes a queued write costs beside its payload: Node's buffered-write record and its slot in the
 * writev arrays, and the link's own entry (an estimate; it dominates for 100-byte deliveries).
 */
export const QUEUED_WRITE_OVERHEAD = 64;

/** A connection as the budget sees it. */
export interface BudgetedConnection {
  /** Bytes queued on its socket (a shared frame counted in full: what this connection would free). */
  readonly queued: number;
  /** Its close frame is out or its TCP is gone: its queue only drains. */
  readonly closing: boolean;
  close(code: number, reason: string): void;
  /** Drops its TCP connection at once (no close frame: it would wait behind the queue): its queue is released. */
  terminate(): void;
  /** Tells the budget of its writes the kernel has taken. */
  settleWrites(): void;
}

export interface SendBudgetStats {
  /** Connections closed because one write would have taken their queue past its cap. */
  closedSendQueueFull: number;
  /** Open connections dropped because the thread's queues together were past maxBufferedBytes. */
  closedBufferLimit: number;
  /** Connections already closing dropped before their close timeout to release their queues. */
  releasedClosing: number;
}

export class SendBudget {
  readonly stats: SendBudgetStats = { closedSendQueueFull: 0, closedBufferLimit: 0, releasedClosing: 0 };
  /** Bytes this thread's send queues hold now (see the file comment). */
  queued = 0;
  readonly #limit: number;
  /** Where broadcast deliveries start being shed, and where all are; Infinity without a limit. */
  readonly #shedFrom: number;
  readonly #fullFrom: number;
  readonly #connections: () => Iterable<BudgetedConnection>;
  readonly #count: () => number;
  #checkScheduled = false;
  /** The shared frames some queue holds, by number from #heldSeq on (released ones undefined until dropped). */
  #held: (SharedFrame | undefined)[] = [];
  #heldSeq = 0;
  #heldStart = 0;
  #nextSeq = 0;
  /** Every connection was settled this turn. */
  #settledThisTurn = false;
  readonly #onShed: ((connections: number) => void) | undefined;

  /**
   * `limit` 0: no thread-wide limit (each connection keeps its own cap). `onShed` hears how many
   * open connections one enforce() dropped.
   */
  constructor(limit: number, connections: () => Iterable<BudgetedConnection>, count: () => number = () => 0,
    onShed?: (connections: number) => void) {
    this.#limit = limit;
    this.#onShed = onShed;
    this.#shedFrom = limit === 0 ? Infinity : limit - limit / 8;
    this.#fullFrom = limit === 0 ? Infinity : limit - limit / 16;
    this.#connections = connections;
    this.#count = count;
  }

  /** A write of `bytes` (its overhead included) was queued. */
  add(bytes: number): void {
    this.queued += bytes;
    if (this.queued > this.#limit && this.#limit !== 0 && !this.#checkScheduled) this.#scheduleCheck();
  }

  /** A write of `bytes` left its queue (flushed, or dropped with its connection). */
  remove(bytes: number): void {
    this.queued -= bytes;
  }

  /**
   * A queued write of a shared frame, its overhead included; its bytes count from its first
   * holder on. Returns the frame's number, which the queue keeps instead of the frame: a number
   * in a long-lived array costs no write barrier, and broadcast stores one per delivery.
   */
  addShared(frame: SharedFrame): number {
    if (frame.holders++ === 0) {
      frame.seq = this.#nextSeq++;
      this.#held.push(frame);
      this.queued += frame.bytes.length;
    }
    this.queued += QUEUED_WRITE_OVERHEAD;
    if (this.queued > this.#limit && this.#limit !== 0 && !this.#checkScheduled) this.#scheduleCheck();
    return frame.seq;
  }

  /** The frame numbered `seq`, while some queue holds it. */
  heldFrame(seq: number): SharedFrame {
    return this.#held[seq - this.#heldSeq]!;
  }

  /** A queued write of the frame numbered `seq` left its queue. */
  releaseShared(seq: number): void {
    const held = this.#held;
    const index = seq - this.#heldSeq;
    const frame = held[index]!;
    this.queued -= QUEUED_WRITE_OVERHEAD;
    if (--frame.holders !== 0) return;
    this.queued -= frame.bytes.length;
    frame.seq = -1;
    held[index] = undefined;
    // Frames mostly go in the order they came: the released ones are dropped from the front.
    let start = this.#heldStart;
    while (start < held.length && held[start] === undefined) start++;
    if (start === held.length) {
      this.#held = [];
      this.#heldSeq = this.#nextSeq;
      start = 0;
    } else if (start > 1024 && start * 2 > held.length) {
      this.#held = held.slice(start);
      this.#heldSeq += start;
      start = 0;
    }
    this.#heldStart = start;
  }

  /** Broadcast deliveries are being shed: the total is past 7/8 of the limit. */
  get shedding(): boolean {
    if (this.queued <= this.#shedFrom) return false;
    this.settleAll();
    return this.queued > this.#shedFrom;
  }

  /** Past 15/16 of the limit: no broadcast delivery is queued under the 'drop' policy. */
  get full(): boolean {
    return this.queued > this.#fullFrom;
  }

  /** Settles every connection's flushed writes, once per turn however often asked. */
  settleAll(): void {
    if (this.#settledThisTurn) return;
    this.#settledThisTurn = true;
    setImmediate(() => { this.#settledThisTurn = false; });
    for (const connection of this.#connections()) connection.settleWrites();
  }

  /** A connection's share of the shedding mark: a subscriber whose queue holds more is shed first. */
  fairShare(): number {
    return this.#shedFrom / Math.max(1, this.#count());
  }

  /** A connection's single write would have gone past its cap: it is closed with 1013. */
  overflowed(connection: BudgetedConnection): void {
    this.stats.closedSendQueueFull++;
    connection.close(CloseCode.TRY_AGAIN_LATER, 'send queue full');
  }

  /**
   * The connections are looked at once per turn, however many writes found the total over: a
   * broadcast to slow subscribers would ask once per subscriber.
   */
  #scheduleCheck(): void {
    this.#checkScheduled = true;
    setImmediate(() => {
      this.#checkScheduled = false;
      this.enforce();
    });
  }

  /**
   * Drops connections, largest queue first and closing ones before open ones, until what they
   * hold brings the total under the limit. A dropped connection's queue is released when its
   * socket closes, in this turn's I/O.
   */
  enforce(): void {
    if (this.#limit === 0) return;
    this.settleAll();
    let excess = this.queued - this.#limit;
    if (excess <= 0) return;
    const closing: BudgetedConnection[] = [];
    const open: BudgetedConnection[] = [];
    for (const connection of this.#connections()) {
      if (connection.queued > 0) (connection.closing ? closing : open).push(connection);
    }
    closing.sort(byQueueDescending);
    for (const connection of closing) {
      if (excess <= 0) return;
      excess -= connection.queued;
      this.stats.releasedClosing++;
      connection.terminate();
    }
    open.sort(byQueueDescending);
    let shed = 0;
    for (const connection of open) {
      if (excess <= 0) break;
      excess -= connection.queued;
      this.stats.closedBufferLimit++;
      shed++;
      connection.terminate();
    }
    if (shed > 0) this.#onShed?.(shed);
  }
}

function byQueueDescending(a: BudgetedConnection, b: BudgetedConnection): number {
  return b.queued - a.queued;
}
