/**
 * The run as it goes: the shards' progress messages in, one series point per second out (the
 * JSON summary's `series`, the CSV and the HTML report), and the live progress line over a
 * window of those seconds. Each shard's rates come from its own consecutive reports (their own
 * timestamps), so a shard reporting just before or after the coordinator's tick is not counted twice.
 */
import type { Histogram } from 'hdr-histogram-js';
import { countErrors, createHistogram, decodeHistogram, microsToMs as ms, type Counters } from './stats.js';

/** One second of the run. Rates are per second; latency in ms, null when no sample came in it. */
export interface SeriesPoint {
  /** Seconds since the run started (the end of this point's second). */
  t: number;
  sent: number;
  received: number;
  p50: number | null;
  p99: number | null;
  /** Connections open at the time of the point. */
  open: number;
  /** Errors counted in this second. */
  errors: number;
  /**
   * CPU of the generator's busiest thread over its last progress interval, in % of one core (the
   * summary's `generator.busiest`, per second); null before any thread has reported.
   */
  cpuPercent: number | null;
}

export interface Progress {
  elapsedS: number;
  attempted: number;
  opened: number;
  open: number;
  sentPerSecond: number;
  receivedPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errorCount: number;
}

/** What a shard's progress message carries that the series needs. */
export interface ShardProgress {
  shard: number;
  counters: Counters;
  errors: Record<string, number>;
  /** The shard's interval latency histogram, encoded. */
  interval: string;
  /** Wall-clock ms (epoch) when the shard took the counters; absent: when the message arrived. */
  at?: number;
  /** The shard's thread CPU since its previous progress message, % of one core. */
  cpuPercent: number;
}

interface ShardState {
  at: number;
  counters: Counters;
  errorCount: number;
  sentPerSecond: number;
  receivedPerSecond: number;
  errorsPerSecond: number;
  cpuPercent: number;
}

export class RunSeries {
  readonly points: SeriesPoint[] = [];
  readonly #shards = new Map<number, ShardState>();
  readonly #startedAtEpoch: number;
  /** Latency since the last point, and since the last progress line. */
  #second: Histogram = createHistogram();
  #window: Histogram = createHistogram();
  #windowStart = 0;

  constructor() {
    this.#startedAtEpoch = Date.now();
  }

  shardProgress(message: ShardProgress): void {
    const at = message.at ?? Date.now();
    const previous = this.#shards.get(message.shard);
    const since = previous?.at ?? this.#startedAtEpoch;
    const seconds = Math.max(0.001, (at - since) / 1000);
    const errorCount = countErrors(message.errors);
    this.#shards.set(message.shard, {
      at,
      counters: message.counters,
      errorCount,
      sentPerSecond: (message.counters.sent - (previous?.counters.sent ?? 0)) / seconds,
      receivedPerSecond: (message.counters.received - (previous?.counters.received ?? 0)) / seconds,
      errorsPerSecond: (errorCount - (previous?.errorCount ?? 0)) / seconds,
      cpuPercent: message.cpuPercent,
    });
    const interval = decodeHistogram(message.interval);
    this.#second.add(interval);
    this.#window.add(interval);
  }

  /** Closes the current second: appends its point and returns it. */
  tick(): SeriesPoint {
    let sent = 0, received = 0, errors = 0, open = 0;
    let cpuPercent: number | null = null;
    for (const state of this.#shards.values()) {
      sent += state.sentPerSecond;
      received += state.receivedPerSecond;
      errors += state.errorsPerSecond;
      open += state.counters.openAtEnd;
      cpuPercent = Math.max(cpuPercent ?? 0, state.cpuPercent);
    }
    const latency = this.#second;
    const point: SeriesPoint = {
      t: Math.round((Date.now() - this.#startedAtEpoch) / 100) / 10,
      sent: Math.round(sent),
      received: Math.round(received),
      p50: latency.totalCount === 0 ? null : ms(latency.getValueAtPercentile(50)),
      p99: latency.totalCount === 0 ? null : ms(latency.getValueAtPercentile(99)),
      open,
      errors: Math.round(errors),
      cpuPercent: cpuPercent === null ? null : Math.round(cpuPercent),
    };
    this.#second = createHistogram();
    this.points.push(point);
    return point;
  }

  /** The progress line's figures: rates averaged over the points since the last call. */
  window(): Progress {
    const points = this.points.slice(this.#windowStart);
    this.#windowStart = this.points.length;
    const average = (pick: (point: SeriesPoint) => number) =>
      points.length === 0 ? 0 : points.reduce((sum, point) => sum + pick(point), 0) / points.length;
    let attempted = 0, opened = 0, open = 0, errorCount = 0;
    for (const state of this.#shards.values()) {
      attempted += state.counters.attempted;
      opened += state.counters.opened;
      open += state.counters.openAtEnd;
      errorCount += state.errorCount;
    }
    const latency = this.#window;
    this.#window = createHistogram();
    return {
      elapsedS: (Date.now() - this.#startedAtEpoch) / 1000,
      attempted,
      opened,
      open,
      sentPerSecond: average((point) => point.sent),
      receivedPerSecond: average((point) => point.received),
      p50Ms: latency.totalCount === 0 ? 0 : ms(latency.getValueAtPercentile(50)),
      p99Ms: latency.totalCount === 0 ? 0 : ms(latency.getValueAtPercentile(99)),
      errorCount,
    };
  }
}
