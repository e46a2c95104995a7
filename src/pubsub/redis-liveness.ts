/**
 * A PING with a deadline on one Redis connection. A Redis that stops answering without closing
 * its sockets (SIGSTOP, a long blocking command, a partition) leaves ioredis 'ready' forever: only
 * an unanswered request shows it. PING is one of the commands a connection in subscribe mode may
 * send, so the same check covers the publishing and the subscribing connection.
 */
import type { Redis } from 'ioredis';

export class PingWatch {
  readonly #redis: Redis;
  readonly #timeoutMs: number;
  readonly #onChange: () => void;
  /** The PING in flight (one at a time), and its deadline timer. */
  #pending: Promise<unknown> | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #stalled = false;

  constructor(redis: Redis, timeoutMs: number, onChange: () => void) {
    this.#redis = redis;
    this.#timeoutMs = timeoutMs;
    this.#onChange = onChange;
  }

  /** True while a PING has gone unanswered past the deadline on the current connection. */
  get stalled(): boolean {
    return this.#stalled;
  }

  /** Sends a PING unless one is still waiting (the deadline then decides). */
  ping(): void {
    if (this.#pending !== undefined || this.#redis.status !== 'ready') return;
    const pending = this.#redis.ping();
    this.#pending = pending;
    this.#deadline = setTimeout(() => this.#set(true), this.#timeoutMs);
    const settled = () => {
      if (this.#pending !== pending) return;
      this.#clear();
      this.#set(false);
    };
    // A rejection means the connection went (ioredis flushes its queue): 'close' reports that.
    pending.then(settled, settled);
  }

  /** The connection closed: its PING will never be answered, and a new one starts afresh. */
  reset(): void {
    this.#clear();
    this.#stalled = false;
  }

  #clear(): void {
    clearTimeout(this.#deadline);
    this.#deadline = undefined;
    this.#pending = undefined;
  }

  #set(stalled: boolean): void {
    if (stalled === this.#stalled) return;
    this.#stalled = stalled;
    this.#onChange();
  }
}
