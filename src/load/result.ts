/** What a `wasmsocket load` run measured: the summary printed, written as JSON, and checked by thresholds. */
import type { Histogram } from 'hdr-histogram-js';
import type { GeneratorCpu } from './generator-cpu.js';
import type { StormSummary } from './scenarios/reconnect-storm.js';
import type { SeriesPoint } from './series.js';
import { microsToMs as ms } from './stats.js';
import type { ThresholdOutcome } from './thresholds.js';

export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p99_9: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  scenario: string;
  url: string;
  codec: string;
  connections: number;
  durationS: number;
  elapsedS: number;
  processes: number;
  threads: number;
  openFileLimit: number;
  connectionsPerProcess: number;
  connect: {
    attempted: number;
    opened: number;
    openAtEnd: number;
    closedClean: number;
    abandoned: number;
    rampS: number;
    /** Connections opened per second over the ramp. */
    perSecond: number;
    handshakeMs: Percentiles;
  };
  messages: {
    sent: number;
    received: number;
    skipped: number;
    other: number;
    /**
     * Messages read by the full protocol instead of straight from the reads: those right after a
     * ping or other control frame, fragmented ones; 0 with --deflate agreed (the protocol reads all).
     */
    slowPath: number;
    sentPerSecond: number;
    receivedPerSecond: number;
    bytesSentPerSecond: number;
    bytesReceivedPerSecond: number;
    /**
     * echo: replies that never came. broadcast: deliveries that never came, counted per subscriber
     * against every publish sent (see delivery-ledger.ts).
     */
    lost: number;
    /** broadcast: deliveries that came twice, and ones that came after a later one of their publisher. */
    duplicated: number;
    reordered: number;
    /** echo: replies that were not the echo of what was sent, by kind. */
    mismatches: { notEcho: number; type: number; sequence: number; content: number };
    /** broadcast --in-flight: publishes sent past a window that had stopped moving for 500 ms. */
    windowProbes: number;
    /**
     * broadcast: subscribers whose {"type":"subscribed"} reply came before the publishes started,
     * and those that had none after a wait of 2 s with no reply: the run assumed them subscribed.
     */
    subscriptions: { acknowledged: number; assumed: number };
  };
  /**
   * echo: round trip; broadcast: publish → delivery. With --rate it counts from the message's
   * intended send time (its slot in the schedule), so stalls are not hidden (coordinated omission).
   */
  latencyMs: Percentiles;
  /** Paced echo: from the actual send instead (no samples otherwise: there the two are the same). */
  serviceMs: Percentiles;
  /** How busy each generator thread was while the traffic ran (CPU time per wall time, % of a core). */
  generator: GeneratorCpu;
  /** --deflate: on how many connections the server agreed to permessage-deflate, or declined it. */
  deflate: { offered: boolean; agreed: number; declined: number };
  errors: Record<string, number>;
  errorCount: number;
  /** Which limit stopped the run, in words, when errors point to one. */
  limits: string[];
  warnings: string[];
  /** What the errors suggest trying, in words (a scenario that fits the server, --insecure, ws://). */
  hints: string[];
  /** One point per second of the run. */
  series: SeriesPoint[];
  /** reconnect-storm: each storm (its reconnect times are `latencyMs`). */
  storms?: StormSummary[];
  /** --threshold, each with this run's value; one not ok makes the exit code 1. */
  thresholds: ThresholdOutcome[];
  /** False when nothing succeeded (no round trip, delivery or connection): exit code 1. */
  ok: boolean;
}

export function percentiles(histogram: Histogram): Percentiles {
  const count = histogram.totalCount;
  if (count === 0) return { count, p50: 0, p90: 0, p99: 0, p99_9: 0, max: 0, mean: 0 };
  return {
    count,
    p50: ms(histogram.getValueAtPercentile(50)),
    p90: ms(histogram.getValueAtPercentile(90)),
    p99: ms(histogram.getValueAtPercentile(99)),
    p99_9: ms(histogram.getValueAtPercentile(99.9)),
    max: ms(histogram.maxValue),
    mean: ms(histogram.mean),
  };
}
