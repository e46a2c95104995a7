/**
 * reconnect-storm: what a server does when every client comes back at once (a deploy, a network
 * blip, a load balancer that failed over). Once every connection is open, and then every
 * --storm-interval after the previous storm is over, each open connection is dropped (TCP, no
 * close frame: what the server sees of a network failure) and reopened in the same turn. A
 * reconnect's time runs from the drop to its new 101 and is the run's latency; each storm records
 * how long until every connection was back, and how many could not come back.
 */
import type { LoadConnection } from '../connection.js';
import type { ScenarioContext, ScenarioDriver } from './scenario.js';

/** The error a dropped connection ends with: the scenario's own doing, not counted as an error. */
const STORM_DROP = 'storm-drop';

/** One storm as one shard saw it. */
export interface StormRecord {
  /** Connections dropped (all that were open). */
  dropped: number;
  /** Reopened: their new handshake completed. */
  reconnected: number;
  /** Reopens that failed (their error kinds are in the run's errors). */
  failed: number;
  /** From the drop until every reopen succeeded or failed; null: the run stopped first. */
  allBackMs: number | null;
}

/** The storms of a run, merged over shards: storm k of every shard is one storm. */
export interface StormSummary extends StormRecord {
  /** Seconds from the run's `go` to this storm's drop (the first shard's). */
  atS: number;
}

interface ShardStorm extends StormRecord {
  startedAt: number;
  atS: number;
  pending: Set<LoadConnection>;
}

export class ReconnectStormScenario implements ScenarioDriver {
  readonly #context: ScenarioContext;
  readonly #storms: ShardStorm[] = [];
  readonly #dropping = new Set<LoadConnection>();
  #current: ShardStorm | undefined;
  #timer: NodeJS.Timeout | undefined;
  #goAt = 0;

  constructor(context: ScenarioContext) {
    this.#context = context;
  }

  opened(conn: LoadConnection): void {
    const storm = this.#current;
    if (storm === undefined || !storm.pending.delete(conn)) return;
    this.#context.stats.recordLatency(performance.now() - storm.startedAt);
    storm.reconnected++;
    this.#settleOne(storm);
  }

  message(_conn: LoadConnection, data: Buffer): void {
    this.#context.stats.counters.other++;
    this.#context.stats.counters.bytesReceived += data.length;
  }

  ended(conn: LoadConnection, error: string | undefined, wasOpen: boolean): boolean {
    if (error === STORM_DROP && this.#dropping.delete(conn)) return true;
    const storm = this.#current;
    // An attempt abandoned because the run stopped did not fail: its storm is left unsettled (allBackMs null).
    if (storm !== undefined && !wasOpen && !this.#context.stopping && storm.pending.delete(conn)) {
      storm.failed++;
      this.#settleOne(storm);
    }
    return false;
  }

  go(): void {
    this.#goAt = performance.now();
    this.#schedule();
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  drained(): boolean {
    return true;
  }

  report(): StormSummary[] {
    return this.#storms.map(({ dropped, reconnected, failed, allBackMs, atS }) => ({ dropped, reconnected, failed, allBackMs, atS }));
  }

  #schedule(): void {
    if (this.#context.stopping) return;
    this.#timer = setTimeout(() => this.#storm(), this.#context.plan.stormIntervalMs);
  }

  #storm(): void {
    if (this.#context.stopping) return;
    const startedAt = performance.now();
    const victims = [...this.#context.open];
    const storm: ShardStorm = {
      dropped: victims.length, reconnected: 0, failed: 0, allBackMs: null,
      startedAt, atS: Math.round((startedAt - this.#goAt) / 100) / 10, pending: new Set(),
    };
    this.#storms.push(storm);
    this.#current = storm;
    for (const conn of victims) {
      this.#dropping.add(conn);
      conn.destroy(STORM_DROP);
    }
    for (let i = 0; i < victims.length; i++) storm.pending.add(this.#context.openConnection());
    if (victims.length === 0) this.#settleOne(storm);
  }

  #settleOne(storm: ShardStorm): void {
    if (storm.pending.size > 0) return;
    storm.allBackMs = Math.round((performance.now() - storm.startedAt) * 1000) / 1000;
    this.#current = undefined;
    this.#schedule();
  }
}

/** Storm k of each shard, merged: counts add up, the whole storm is back when the last shard's is. */
export function mergeStorms(perShard: ReadonlyArray<readonly StormSummary[]>): StormSummary[] {
  const merged: StormSummary[] = [];
  for (const storms of perShard) {
    storms.forEach((storm, k) => {
      const into = merged[k];
      if (into === undefined) {
        merged[k] = { ...storm };
        return;
      }
      into.dropped += storm.dropped;
      into.reconnected += storm.reconnected;
      into.failed += storm.failed;
      into.atS = Math.min(into.atS, storm.atS);
      into.allBackMs = into.allBackMs === null || storm.allBackMs === null ? null : Math.max(into.allBackMs, storm.allBackMs);
    });
  }
  return merged;
}
