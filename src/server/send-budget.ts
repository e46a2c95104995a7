/**
 * What one thread lets its connections hold in send queues: bytes written for peers and not yet
 * taken by the kernel. Each connection is capped on its own (SocketLink refuses a write past
 * `highWaterMark + maxPayload`); this bounds the thread's total, `maxBufferedBytes`, by closing
 * the connections with the largest queues (the slowest readers) with 1013 until the rest fits.
 */
import { CloseCode } from '../protocol/close-codes.js';

/** A connection as the budget sees it. */
export interface BudgetedConnection {
  /** Bytes queued on its socket. */
  readonly queued: number;
  /** Its close frame is out or its TCP is gone: its queue is on its way out, not counted. */
  readonly closing: boolean;
  close(code: number, reason: string): void;
}

export interface SendBudgetStats {
  /** Connections closed because one write would have taken their queue past its cap. */
  closedSendQueueFull: number;
  /** Connections closed because the thread's queues together were past maxBufferedBytes. */
  closedBufferLimit: number;
}

export class SendBudget {
  readonly stats: SendBudgetStats = { closedSendQueueFull: 0, closedBufferLimit: 0 };
  readonly #limit: number;
  readonly #connections: () => Iterable<BudgetedConnection>;
  #checkScheduled = false;

  /** `limit` 0: no thread-wide limit (each connection keeps its own cap). */
  constructor(limit: number, connections: () => Iterable<BudgetedConnection>) {
    this.#limit = limit;
    this.#connections = connections;
  }

  /** A connection's single write would have gone past its cap: it is closed with 1013. */
  overflowed(connection: BudgetedConnection): void {
    this.stats.closedSendQueueFull++;
    connection.close(CloseCode.TRY_AGAIN_LATER, 'send queue full');
  }

  /**
   * A write left a connection's queue over its high-water mark. The total is summed once per
   * turn, however many writes asked: a broadcast to slow subscribers asks once per subscriber.
   */
  overHighWater(): void {
    if (this.#limit === 0 || this.#checkScheduled) return;
    this.#checkScheduled = true;
    setImmediate(() => {
      this.#checkScheduled = false;
      this.enforce();
    });
  }

  /** Closes the largest queues first until the thread's total fits its limit. */
  enforce(): void {
    const open: BudgetedConnection[] = [];
    let total = 0;
    for (const connection of this.#connections()) {
      if (connection.closing) continue;
      total += connection.queued;
      open.push(connection);
    }
    if (total <= this.#limit) return;
    open.sort((a, b) => b.queued - a.queued);
    for (const connection of open) {
      if (total <= this.#limit) break;
      total -= connection.queued;
      this.stats.closedBufferLimit++;
      connection.close(CloseCode.TRY_AGAIN_LATER, 'server send buffers full');
    }
  }
}
