/**
 * File descriptors, on the main thread where every connection is accepted. A process whose fd
 * table is full cannot accept: libuv then accepts and closes every new connection on a spare
 * fd of its own (its "EMFILE trick"), so clients, /healthz included, are dropped at once and
 * Node is never told. So we refuse first: past `limit - reserve` fds in use, a new connection
 * gets 503 (and GET /healthz the node's state), answered with the reserve's fds; the episode
 * is logged once when it starts and once when it ends.
 *
 * The count is estimated as fds that are not connections (measured) plus open connections
 * (counted by admission), and measured again from /proc/self/fd when the estimate reaches the
 * limit (at most every RECOUNT_MS, since a full table is tens of thousands of entries) and every
 * RECOUNT_EVERY accepts, so files and sockets the application opens are seen too. Linux only: elsewhere there is no
 * limit to read and this never refuses.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { LogSink } from '../logging/logger.js';

export interface FdStats {
  /** The soft RLIMIT_NOFILE; null where it cannot be read (no refusals then). */
  limit: number | null;
  /** Fds kept free for answering refusals and /healthz. */
  reserve: number;
  /** Fds in use at the last look (estimated between counts). */
  inUse: number;
  /** True while new connections are refused for want of fds. */
  exhausted: boolean;
  /** Connections refused with 503 for want of fds, and how many times that began. */
  refused: number;
  /**
   * Of those, refused at once, before their request was read (more at once than the reserve
   * answers the usual way): a plain 503 written as the socket is accepted, then closed.
   */
  refusedAtOnce: number;
  episodes: number;
}

/** A refused connection can always be answered: at least this many fds stay free. */
const MIN_RESERVE = 32;
const MAX_RESERVE = 1024;
const RECOUNT_MS = 250;
/** Accepts between counts even far from the limit: fds the application opens are seen in time. */
const RECOUNT_EVERY = 1024;

export class FdReserve {
  readonly #log: LogSink;
  readonly #limit: number | null;
  readonly #reserve: number;
  /** Fds that are not counted connections: the process's own, the pool's, the application's. */
  #others = 0;
  /** Refused sockets still being answered: they hold an fd each. */
  #answering = 0;
  #countedAt = 0;
  #acceptsSinceCount = 0;
  #inUse = 0;
  #exhausted = false;
  #refused = 0;
  #refusedAtOnce = 0;
  #episodes = 0;

  constructor(log: LogSink, limit: number | null = softFdLimit()) {
    this.#log = log;
    this.#limit = limit;
    this.#reserve = limit === null ? 0 : Math.min(MAX_RESERVE, Math.max(MIN_RESERVE, Math.floor(limit / 50)));
  }

  get stats(): FdStats {
    return {
      limit: this.#limit, reserve: this.#reserve, inUse: this.#inUse,
      exhausted: this.#exhausted, refused: this.#refused, refusedAtOnce: this.#refusedAtOnce, episodes: this.#episodes,
    };
  }

  /** Measures what is not a connection; call when `connections` is the exact open count. */
  measure(connections: number): void {
    if (this.#limit === null) return;
    this.#countedAt = Date.now();
    this.#acceptsSinceCount = 0;
    this.#inUse = openFdCount();
    this.#others = Math.max(0, this.#inUse - connections - this.#answering);
  }

  /**
   * A connection was just accepted, `connections` are open besides it: true to serve it, false
   * to refuse it with 503 (counted; the first refusal of an episode is logged).
   */
  admit(connections: number): boolean {
    const limit = this.#limit;
    if (limit === null) return true;
    const threshold = limit - this.#reserve;
    this.#inUse = this.#others + connections + this.#answering + 1;
    // The new socket holds an fd already: it is counted as a connection.
    const due = this.#countedAt === 0 || ++this.#acceptsSinceCount >= RECOUNT_EVERY;
    if (due || (this.#inUse >= threshold && Date.now() - this.#countedAt >= RECOUNT_MS)) this.measure(connections + 1);
    if (this.#inUse < threshold) {
      if (this.#exhausted) {
        this.#exhausted = false;
        this.#log({
          level: 'info', event: 'fds_available', fields: { inUse: this.#inUse, limit },
          message: `file descriptors available again (${this.#inUse} of ${limit} in use): new connections are served`,
        });
      }
      return true;
    }
    this.#refused++;
    if (!this.#exhausted) {
      this.#exhausted = true;
      this.#episodes++;
      this.#log({
        level: 'error', event: 'fds_exhausted', fields: { inUse: this.#inUse, limit, reserve: this.#reserve },
        message: `out of file descriptors: ${this.#inUse} of ${limit} in use (ulimit -n), ${this.#reserve} kept for answers; `
          + 'new connections get 503 until some close',
      });
    }
    return false;
  }

  /**
   * True while a refused socket can be answered the usual way: its request read (GET /healthz
   * gets the node's state), then the answer, holding its fd until it closes. At most half the
   * reserve does so at once; the other half stays free for the process. Past that, in a burst,
   * a refusal is answered at once (refusedAtOnce), so that its fd is free again before the next
   * accept: libuv accepts every connection waiting in the backlog in one go, and one it cannot
   * give an fd is closed unanswered and uncounted.
   */
  get canAnswer(): boolean {
    return this.#answering < Math.max(1, Math.floor(this.#reserve / 2));
  }

  /** A refused socket was answered at once and closed (see canAnswer). */
  refusedAtOnce(): void {
    this.#refusedAtOnce++;
  }

  /** A refused socket is being answered until `socket` closes. */
  answering(socket: { once(event: 'close', listener: () => void): unknown }): void {
    this.#answering++;
    socket.once('close', () => this.#answering--);
  }

  /**
   * The listener's 'error': accept failing (EMFILE/ENFILE: the table filled before our count
   * said so, say with files the application opened). Logged once per episode, never fatal.
   */
  acceptFailed(error: NodeJS.ErrnoException): void {
    const full = error.code === 'EMFILE' || error.code === 'ENFILE';
    if (full && this.#exhausted) return;
    if (full) {
      this.#exhausted = true;
      this.#episodes++;
      this.#countedAt = 0; // the next accept counts again
    }
    this.#log({
      level: 'error', event: full ? 'fds_exhausted' : 'accept_failed', fields: { code: error.code ?? null },
      message: `accept failed: ${error.message}${full ? '; new connections are dropped until some close' : ''}`,
    });
  }
}

/** The soft limit on open files, from /proc/self/limits (Linux); null elsewhere. */
function softFdLimit(): number | null {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line === null || line[1] === 'unlimited' ? null : Number(line[1]);
  } catch {
    return null;
  }
}

/** Fds open in this process (the directory listing's own fd not counted). */
function openFdCount(): number {
  return readdirSync('/proc/self/fd').length - 1;
}
