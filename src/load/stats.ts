/**
 * What a shard counts and measures, in a form that crosses threads and processes (structured
 * clone or JSON) and merges: plain counters, errors by kind, HDR histograms (µs) encoded as
 * compressed base64. The pure-JS histogram is used so it works the same in every worker.
 */
import hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';

export interface Counters {
  /** Connections whose TCP connect was started. */
  attempted: number;
  /** Connections that completed the opening handshake. */
  opened: number;
  /** Connections still open when the run stopped. */
  openAtEnd: number;
  /** Connections whose closing handshake (ours, 1000) completed at the end. */
  closedClean: number;
  /** Connection attempts abandoned because the run stopped first. */
  abandoned: number;
  /** Data messages sent (broadcast: publishes) and received (broadcast: deliveries). */
  sent: number;
  received: number;
  /** Payload bytes of those messages. */
  bytesSent: number;
  bytesReceived: number;
  /** Sends skipped at a fixed rate because the socket's queue was over its limit. */
  skipped: number;
  /** Messages that are neither replies nor deliveries (a pub/sub acknowledgement, say). */
  other: number;
  /**
   * Data messages the full protocol read on a connection whose scenario counts them from the
   * reads (data-frame-reader.ts): those in the same read after a ping or other control frame,
   * and fragmented messages. The rest took the fast path.
   */
  slowPath: number;
  /** --deflate: connections where the server agreed to permessage-deflate, and where it declined. */
  deflateAgreed: number;
  deflateDeclined: number;
  /**
   * Loss accounting (see delivery-ledger.ts). echo: replies that never came; broadcast: deliveries
   * missing below the last one of a subscriber that closed early (the coordinator adds, for the
   * subscribers open at the end, every publish sent less what they received: `deliveredAtEnd`).
   */
  lost: number;
  /** broadcast: deliveries that came again, and deliveries that came after a later one. */
  duplicated: number;
  reordered: number;
  /** broadcast: subscribers open at the end, and the distinct deliveries they received. */
  subscribersAtEnd: number;
  deliveredAtEnd: number;
  /**
   * broadcast: subscribers whose subscription the server acknowledged before the publishes
   * started, and those still unacknowledged when the wait for it ended (assumed subscribed).
   */
  subscriptionsAcknowledged: number;
  subscriptionsAssumed: number;
  /** broadcast --in-flight: publishes sent past a window that stopped moving (a delivery lost). */
  windowProbes: number;
  /** echo replies that are not the echo, by kind: no stamp of ours, text ↔ binary, out of sequence, other bytes. */
  mismatchNotEcho: number;
  mismatchType: number;
  mismatchSequence: number;
  mismatchContent: number;
  /** Milliseconds during which connections were open and measured (first open → stop). */
  activeMs: number;
  /** Milliseconds from the first attempt to the last successful open. */
  rampMs: number;
}

export function emptyCounters(): Counters {
  return {
    attempted: 0, opened: 0, openAtEnd: 0, closedClean: 0, abandoned: 0, sent: 0, received: 0,
    bytesSent: 0, bytesReceived: 0, skipped: 0, other: 0, slowPath: 0, deflateAgreed: 0, deflateDeclined: 0,
    lost: 0, duplicated: 0, reordered: 0, subscribersAtEnd: 0, deliveredAtEnd: 0, windowProbes: 0,
    subscriptionsAcknowledged: 0, subscriptionsAssumed: 0,
    mismatchNotEcho: 0, mismatchType: 0, mismatchSequence: 0, mismatchContent: 0, activeMs: 0, rampMs: 0,
  };
}

/** Latency histograms hold µs, up to an hour, 3 significant digits. */
export function createHistogram(): Histogram {
  return hdr.build({
    bitBucketSize: 32,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}

/** A histogram's µs value in ms, to the µs. */
export function microsToMs(micros: number): number {
  return Math.round(micros) / 1000;
}

/** All errors, over every kind. */
export function countErrors(errors: Readonly<Record<string, number>>): number {
  return Object.values(errors).reduce((sum, count) => sum + count, 0);
}

export function encodeHistogram(histogram: Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

export function decodeHistogram(encoded: string): Histogram {
  return hdr.decodeFromCompressedBase64(encoded, 32, false);
}

/** A shard's measurements as they cross a thread or process boundary. */
export interface ShardSnapshot {
  counters: Counters;
  errors: Record<string, number>;
  /** Message round trip (echo) or delivery (broadcast) latency, µs. */
  latency: string;
  /** TCP connect → 101, µs. */
  handshake: string;
  /** The first example of some error kinds (what the server said instead of an echo), for hints. */
  samples?: Record<string, string>;
  /** What the scenario reports of its own (reconnect-storm's storms), merged by the scenario. */
  scenario?: unknown;
  /** Paced echo: reply minus the actual send (latency counts from the intended send), µs. */
  service: string;
  /** The shard's thread: its CPU time per second of wall time while the traffic ran, %. */
  cpuPercent: number;
}

export class ShardStats {
  readonly counters = emptyCounters();
  readonly errors = new Map<string, number>();
  readonly samples = new Map<string, string>();
  /** Latency of the run up to the last progress interval: the interval's is added in each tick. */
  readonly #latency = createHistogram();
  readonly handshake = createHistogram();
  readonly service = createHistogram();
  /** Set by the shard when it stops. */
  cpuPercent = 0;
  /** Latency of the current progress interval; every sample is recorded here, once. */
  readonly #interval = createHistogram();

  countError(kind: string, count = 1): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + count);
  }

  /** Keeps the first example of an error kind; `describe` runs only for that first one. */
  sampleError(kind: string, describe: () => string): void {
    if (!this.samples.has(kind)) this.samples.set(kind, describe());
  }

  /** Records one latency in ms (floats from performance.now() differences). */
  recordLatency(ms: number): void {
    this.#interval.recordValue(ms <= 0 ? 0 : Math.round(ms * 1000));
  }

  recordService(ms: number): void {
    this.service.recordValue(ms <= 0 ? 0 : Math.round(ms * 1000));
  }

  recordHandshake(ms: number): void {
    this.handshake.recordValue(ms <= 0 ? 0 : Math.round(ms * 1000));
  }

  snapshot(): ShardSnapshot {
    return {
      counters: { ...this.counters },
      errors: Object.fromEntries(this.errors),
      latency: encodeHistogram(this.#totalLatency()),
      handshake: encodeHistogram(this.handshake),
      samples: Object.fromEntries(this.samples),
      service: encodeHistogram(this.service),
      cpuPercent: this.cpuPercent,
    };
  }

  /** The interval histogram, encoded, then reset for the next interval. */
  takeInterval(): string {
    const encoded = encodeHistogram(this.#interval);
    this.#totalLatency();
    return encoded;
  }

  /** Folds the interval into the run's histogram and starts a new interval. */
  #totalLatency(): Histogram {
    this.#latency.add(this.#interval);
    this.#interval.reset();
    return this.#latency;
  }
}

/** The merge of several shards' snapshots. */
export interface MergedStats {
  counters: Counters;
  errors: Record<string, number>;
  latency: Histogram;
  handshake: Histogram;
  samples: Record<string, string>;
  service: Histogram;
  /** Sum over shards of each shard's count / its own active time: rates add up across shards. */
  receivedPerSecond: number;
  sentPerSecond: number;
  bytesReceivedPerSecond: number;
  bytesSentPerSecond: number;
}

export function mergeSnapshots(snapshots: readonly ShardSnapshot[]): MergedStats {
  const counters = emptyCounters();
  const errors: Record<string, number> = {};
  const latency = createHistogram();
  const handshake = createHistogram();
  const samples: Record<string, string> = {};
  const service = createHistogram();
  let receivedPerSecond = 0, sentPerSecond = 0, bytesReceivedPerSecond = 0, bytesSentPerSecond = 0;
  for (const snapshot of snapshots) {
    const c = snapshot.counters;
    for (const key of Object.keys(counters) as Array<keyof Counters>) {
      counters[key] = key === 'activeMs' || key === 'rampMs' ? Math.max(counters[key], c[key]) : counters[key] + c[key];
    }
    for (const [kind, count] of Object.entries(snapshot.errors)) errors[kind] = (errors[kind] ?? 0) + count;
    latency.add(decodeHistogram(snapshot.latency));
    handshake.add(decodeHistogram(snapshot.handshake));
    for (const [kind, sample] of Object.entries(snapshot.samples ?? {})) samples[kind] ??= sample;
    service.add(decodeHistogram(snapshot.service));
    if (c.activeMs > 0) {
      const seconds = c.activeMs / 1000;
      receivedPerSecond += c.received / seconds;
      sentPerSecond += c.sent / seconds;
      bytesReceivedPerSecond += c.bytesReceived / seconds;
      bytesSentPerSecond += c.bytesSent / seconds;
    }
  }
  return { counters, errors, latency, handshake, samples, service, receivedPerSecond, sentPerSecond, bytesReceivedPerSecond, bytesSentPerSecond };
}
