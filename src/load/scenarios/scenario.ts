/** The contract between a shard and the scenario it drives, and the helpers scenarios share. */
import type { LoadConnection } from '../connection.js';
import type { DataFrameHandler } from '../data-frame-reader.js';
import type { ShardPlan } from '../plan.js';
import type { ShardStats } from '../stats.js';

export interface ScenarioContext {
  readonly plan: ShardPlan;
  readonly stats: ShardStats;
  /** The shard's open connections (each one's `slot` is its index here). */
  readonly open: readonly LoadConnection[];
  /** True once the run is stopping: nothing new is sent. */
  readonly stopping: boolean;
  /** Opens one more connection now, past the plan's count and ramp (a reconnect). */
  openConnection(): LoadConnection;
  /** Closed-loop broadcast over several shards: `[publisher, complete, …]` to the coordinator (ack-relay.ts). */
  reportAcks(acks: number[]): void;
}

export interface ScenarioDriver {
  /** A connection completed its handshake (it is already in `open`). */
  opened(conn: LoadConnection): void;
  /** A data message from the server. */
  message(conn: LoadConnection, data: Buffer, isBinary: boolean): void;
  /**
   * Every connection of this shard has been attempted (opened or failed): `done` once the scenario
   * is ready for its traffic (broadcast: its subscriptions acknowledged). Without it, ready at once.
   */
  ready?(done: () => void): void;
  /** Every shard is ready: traffic that needs them all may start. */
  go(): void;
  /** Stop sending; the shard waits until `drained` says so (or a time limit), then closes. */
  stop(): void;
  /** True when the answers to what was sent before `stop` have arrived (`sinceStopMs` after it). */
  drained(sinceStopMs: number): boolean;
  /** Work before the first connection opens (a module to import); the shard waits for it. */
  prepare?(): Promise<void>;
  /**
   * A connection ended (see ConnectionEvents.ended): `wasOpen`, an open one closed (it has left
   * `open`); else an attempt failed. True: the scenario ended it on purpose and the shard does not
   * count its error kind.
   */
  ended?(conn: LoadConnection, error: string | undefined, wasOpen: boolean): boolean;
  /** What the scenario measured of its own, for the shard's snapshot. */
  report?(): unknown;
  /** The drain is over and the closing handshakes start: count what never arrived. */
  settle?(): void;
  /** The run-wide `[publisher, complete, …]` pairs from the coordinator (ack-relay.ts). */
  acked?(acks: readonly number[]): void;
  /**
   * Set when the scenario needs no message built: data frames go to `handler` straight from the
   * reads, split frames compared with `expected` past their head (see data-frame-reader.ts).
   */
  readonly dataFrames?: { handler: DataFrameHandler<LoadConnection>; expected: Buffer; headBytes?: number };
}

/**
 * Corks each socket written in one turn once, and uncorks them all at the end of the turn,
 * so the messages of a turn leave a socket in one write.
 */
export class CorkBatch {
  static #nextId = 1;
  #id = 0;
  readonly #corked: LoadConnection[] = [];

  begin(): void {
    this.#id = CorkBatch.#nextId++;
  }

  add(conn: LoadConnection): void {
    if (conn.batch === this.#id) return;
    conn.batch = this.#id;
    conn.cork();
    this.#corked.push(conn);
  }

  flush(): void {
    for (const conn of this.#corked) conn.uncork();
    this.#corked.length = 0;
  }
}

/** Bytes queued on one socket past which a paced send is skipped (and counted) instead of queued. */
export const PACED_QUEUE_LIMIT = 4 * 1024 * 1024;

/**
 * Paces sends at a fixed rate, as wrk2 does: message k is due at startedAt + k·interval and leaves
 * as soon as it is due. Each message carries its *intended* send time, so a server (or a generator)
 * that falls behind shows up as growing latency instead of a silently lower rate (coordinated
 * omission corrected); the actual send time goes with it for the service time.
 */
export class RatePacer {
  #timer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  #sent = 0;
  #running = false;

  /**
   * `send(intendedAtMs, actualAtMs)` is called once per message, in order; the messages due at
   * one wake-up go in one turn (one write per socket).
   */
  constructor(readonly perSecond: number, readonly send: (intendedAtMs: number, actualAtMs: number) => void,
    readonly beginTurn: () => void, readonly endTurn: () => void) {}

  start(): void {
    if (this.#running || this.#timer !== undefined || this.perSecond <= 0) return;
    this.#running = true;
    this.#startedAt = performance.now();
    this.#tick();
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
  }

  #tick(): void {
    if (!this.#running) return;
    const interval = 1000 / this.perSecond;
    const now = performance.now();
    // Messages 0..due-1 are due by now (message 0 at the start itself).
    const due = Math.floor((now - this.#startedAt) / interval) + 1;
    if (due > this.#sent) {
      this.beginTurn();
      for (let k = this.#sent; k < due; k++) this.send(this.#startedAt + k * interval, now);
      this.endTurn();
      this.#sent = due;
    }
    // Wake for the next one (timers have millisecond resolution: it may come a little late).
    const wait = this.#startedAt + this.#sent * interval - performance.now();
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, wait));
  }
}
