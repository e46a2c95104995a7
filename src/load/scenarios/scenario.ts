/** The contract between a shard and the scenario it drives, and the helpers scenarios share. */
import type { LoadConnection } from '../connection.js';
import type { ShardPlan } from '../plan.js';
import type { ShardStats } from '../stats.js';

export interface ScenarioContext {
  readonly plan: ShardPlan;
  readonly stats: ShardStats;
  /** The shard's open connections (each one's `slot` is its index here). */
  readonly open: readonly LoadConnection[];
  /** True once the run is stopping: nothing new is sent. */
  readonly stopping: boolean;
  /** Closed-loop broadcast over several shards: `[publisher, complete, …]` to the coordinator (ack-relay.ts). */
  reportAcks(acks: number[]): void;
}

export interface ScenarioDriver {
  /** A connection completed its handshake (it is already in `open`). */
  opened(conn: LoadConnection): void;
  /** A data message from the server. */
  message(conn: LoadConnection, data: Buffer, isBinary: boolean): void;
  /** Every shard has its connections open (or failed): traffic that needs them all may start. */
  go(): void;
  /** Stop sending; the shard waits until `drained` says so (or a time limit), then closes. */
  stop(): void;
  /** True when the answers to what was sent before `stop` have arrived (`sinceStopMs` after it). */
  drained(sinceStopMs: number): boolean;
  /** An open connection ended (TCP closed). */
  closed?(conn: LoadConnection): void;
  /** The drain is over and the closing handshakes start: count what never arrived. */
  settle?(): void;
  /** The run-wide `[publisher, complete, …]` pairs from the coordinator (ack-relay.ts). */
  acked?(acks: readonly number[]): void;
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
 * Paces sends at a fixed rate. Each message gets its *intended* send time, so a server that falls
 * behind shows up as growing latency instead of a silently lower rate (no coordinated omission).
 */
export class RatePacer {
  #timer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  #scheduled = 0;

  /** `send(intendedAtMs)` is called once per message, in order, in bursts once per timer tick. */
  constructor(readonly perSecond: number, readonly send: (intendedAtMs: number) => void,
    readonly beginTurn: () => void, readonly endTurn: () => void) {}

  start(): void {
    if (this.#timer !== undefined || this.perSecond <= 0) return;
    this.#startedAt = performance.now();
    this.#timer = setInterval(() => this.#tick(), 1);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #tick(): void {
    const due = Math.floor((performance.now() - this.#startedAt) * this.perSecond / 1000);
    if (due <= this.#scheduled) return;
    const interval = 1000 / this.perSecond;
    this.beginTurn();
    for (let k = this.#scheduled; k < due; k++) this.send(this.#startedAt + k * interval);
    this.endTurn();
    this.#scheduled = due;
  }
}
