/**
 * What a run measures: the load it applies (arguments of `wasmsocket load`) and the numbers
 * (metrics) read from one run. A metric throws an Error to say why a run has no value.
 */
import type { LoadResult, Progress } from '../../src/load/run.js';
import type { AppKind } from './servers.js';
import { bytes, count, seconds, size, whole } from './format.js';

/** 1000 → "1,000" in titles. */
const n = (value: number) => value.toLocaleString('en-US');

/** Everything recorded about one run of one scenario against one server. */
export interface RunSample {
  scenario: string;
  server: string;
  repetition: number;
  /** Position in the whole run, from 1. */
  sequence: number;
  startedAt: string;
  error?: string;
  notes: string[];
  serverCommand: string;
  loadCommand: string;
  result?: LoadResult;
  progress?: Progress[];
  /** Mean received/s over the steady window (per-second samples), NaN when none qualified. */
  steadyRate: number;
  steadyWindowS: number;
  /** Server and load-generator CPU over the steady window, % of one core (all threads). */
  serverCpuPercent: number;
  loadCpuPercent: number;
  /**
   * The load generator's busiest thread, % of one core: its own per-thread figure when its JSON
   * has one (generator.threads), else sampled from /proc over the steady window. Over
   * CLIENT_BOUND_PERCENT the generator, not the server, set the pace.
   */
  loadBusiestThreadPercent: number;
  /** Time the server's threads waited for a CPU (taken by other work), % of the steady window. */
  serverWaitPercent: number;
  rssBeforeKiB: number;
  /** Server RSS at the end of the hold (the last sample before the generator stops). */
  rssHeldKiB: number;
  rssPeakKiB: number;
  wallS: number;
}

export interface Metric {
  id: string;
  /** Row title, with the unit and which way is better. */
  title: string;
  better: 'higher' | 'lower';
  value(sample: RunSample): number;
  format(value: number): string;
  /** Throughput per server CPU-second is meaningful for rates only. */
  perCpu: boolean;
}

/** Which cores (`taskset -c` lists) the server and the load generator run on. */
export interface Pinning {
  serverCpus: string;
  loadCpus: string;
}

export interface Scenario {
  id: string;
  title: string;
  app: AppKind;
  /** `wasmsocket load` arguments after the URL, without --duration and --json. */
  loadArgs: string[];
  durationS: number;
  metrics: Metric[];
  /** Threads of the load generator (`--threads`; default 1): a cell is client-bound when its busiest thread is over 90%. */
  loadThreads?: number;
  /** Cores for this scenario only (a suite may mix placements); the suite's placement otherwise. */
  pinning?: Pinning;
  /** Servers run with permessage-deflate; the load offers it, and a server that declines is an error. */
  deflate?: boolean;
  /** wss://: servers get a self-signed certificate, the load `--insecure`. */
  tls?: boolean;
  /** Only these server ids run this scenario (the others' cells say so); all when absent. */
  only?: string[];
}

/** The steady rate is the number for rates: the CLI's own average also counts the drain. */
function steadyRate(sample: RunSample): number {
  if (!Number.isFinite(sample.steadyRate)) throw new Error('no steady-state progress samples');
  return sample.steadyRate;
}

export interface EchoOptions {
  /** The server application (default echo). */
  app?: AppKind;
  /** Row title instead of "echo 20 B, 100 conns[, K in flight]". */
  label?: string;
  /** Messages in flight per connection (default 1: ping-pong); > 1 pipelines. */
  inFlight?: number;
  /** Load-generator threads (default 1). */
  threads?: number;
  /** permessage-deflate on both sides, with JSON-like text (`--payload json`) to compress. */
  deflate?: boolean;
  /** Over wss:// (TLS). */
  tls?: boolean;
  /** Only these server ids. */
  only?: string[];
}

/**
 * The server's CPU per million messages over the steady window (CPU-seconds, all its threads):
 * its own cost per message, which stays meaningful where the one-core client sets the rate.
 */
function serverCpuPerMillion(title: string, what: string): Metric {
  return {
    id: 'server-cpu-per-million', title: `${title}: server CPU-s per million ${what} (lower is better)`, better: 'lower', perCpu: false,
    value: (sample) => {
      if (!Number.isFinite(sample.serverCpuPercent)) throw new Error('no server CPU samples');
      return (sample.serverCpuPercent / 100) * 1e6 / steadyRate(sample);
    },
    format: seconds,
  };
}

export function echo(bytesPerMessage: number, connections: number, durationS: number, options: EchoOptions = {}): Scenario {
  const { app = 'echo', inFlight = 1, threads = 1, deflate = false, tls = false } = options;
  // The client masks and validates every byte it sends and receives: its WASM codec is the faster one
  // from 64 KiB (measured here: 14.2k vs 11.3k round trips/s against uWebSockets.js at 64 KiB).
  const clientCodec = bytesPerMessage >= 64 * 1024 ? 'wasm' : 'js';
  const kind = `${tls ? 'wss ' : ''}${deflate ? 'compressed ' : ''}echo`;
  const title = options.label ?? `${kind} ${size(bytesPerMessage)}${deflate ? ' JSON' : ''}, ${n(connections)} conns${inFlight > 1 ? `, ${inFlight} in flight` : ''}`;
  return {
    id: `${app}${tls ? '-wss' : ''}${deflate ? '-deflate' : ''}-${bytesPerMessage}-${connections}${inFlight > 1 ? `-if${inFlight}` : ''}`,
    title,
    app,
    loadArgs: ['--scenario', 'echo', '--connections', String(connections), '--size', String(bytesPerMessage),
      '--in-flight', String(inFlight), '--ramp', connections > 100 ? '5000' : '1000', '--codec', clientCodec, ...threadArgs(threads),
      ...(deflate ? ['--deflate', '--payload', 'json'] : [])],
    durationS,
    loadThreads: threads,
    deflate,
    tls,
    only: options.only,
    metrics: [{
      id: 'round-trips', title: `${title}: round trips/s`, better: 'higher', perCpu: true,
      value: steadyRate, format: count,
    }, serverCpuPerMillion(title, 'round trips')],
  };
}

function threadArgs(threads: number): string[] {
  return threads > 1 ? ['--threads', String(threads)] : [];
}

/** Closed-loop broadcast: the publisher at most this many publishes ahead of the slowest subscriber. */
export const BROADCAST_IN_FLIGHT = 16;

/** How the method text of every suite describes its broadcast rows. */
export function broadcastMethod(extra = ''): string {
  return `Broadcast: \`wasmsocket load --scenario broadcast --connections 1000 --publishers 1 --in-flight ${BROADCAST_IN_FLIGHT} --size S --ramp 0${extra}\`: ` +
    `closed loop, the publisher at most ${BROADCAST_IN_FLIGHT} publishes ahead of the slowest subscriber, so a row is the most the server delivers without a queue building up (an open-loop overload measured queues and drops instead). ` +
    'Every publish carries its publisher id and sequence number; each subscriber counts what it got against what was sent, and the "deliveries lost" row says what never came (a server that drops to slow subscribers shows it there). ' +
    'The smallest publish data the generator makes is 28 B (its stamp: send time, publisher, sequence number).';
}

/**
 * Broadcast to `subscribers`, closed loop: one publisher kept at most `inFlight` publishes ahead of
 * the slowest subscriber (`--in-flight`), so the number is what the server (or the client, see its
 * busiest thread) delivers at most, with no queue built up and nothing dropped for want of room.
 * Deliveries that never came are counted (`messages.lost`) and shown in their own row. The
 * generator's smallest publish data is 28 B (its stamp: send time, publisher, sequence number).
 */
export function broadcast(dataBytes: number, subscribers: number, durationS: number, inFlight: number, threads = 1,
  options: { deflate?: boolean; only?: string[] } = {}): Scenario {
  const deflate = options.deflate ?? false;
  const title = `${deflate ? 'compressed ' : ''}broadcast ${size(dataBytes)}${deflate ? ' JSON' : ''} to ${n(subscribers)} subs`;
  return {
    id: `broadcast${deflate ? '-deflate' : ''}-${dataBytes}-${subscribers}`,
    title,
    app: 'pubsub',
    loadArgs: ['--scenario', 'broadcast', '--connections', String(subscribers), '--publishers', '1',
      '--in-flight', String(inFlight), '--size', String(dataBytes), '--ramp', '0', '--topic', 'bench', ...threadArgs(threads),
      ...(deflate ? ['--deflate', '--payload', 'json'] : [])],
    durationS,
    loadThreads: threads,
    deflate,
    only: options.only,
    metrics: [{
      id: 'deliveries', title: `${title}: deliveries/s`, better: 'higher', perCpu: true,
      value: steadyRate, format: count,
    }, serverCpuPerMillion(title, 'deliveries'), {
      id: 'lost', title: `${title}: deliveries lost (lower is better)`, better: 'lower', perCpu: false,
      value: (sample) => {
        if (sample.result === undefined) throw new Error('no result');
        return sample.result.messages.lost;
      },
      format: whole,
    }],
  };
}

/** One storm of `connections` opened at once and held idle: two numbers from the same run. */
export function connectStorm(connections: number, durationS: number, options: { deflate?: boolean; only?: string[] } = {}): Scenario {
  const deflate = options.deflate ?? false;
  const what = deflate ? 'compressed conn' : 'conn';
  const opened = (sample: RunSample): LoadResult => {
    const result = sample.result!;
    if (result.connect.openAtEnd < connections) {
      throw new Error(`${result.connect.openAtEnd} of ${connections} open at the end (${describeErrors(result) || 'no error counted'})`);
    }
    return result;
  };
  return {
    id: `connect${deflate ? '-deflate' : ''}-${connections}`,
    title: `${n(connections)} ${what}s`,
    app: 'echo',
    loadArgs: ['--scenario', 'connect', '--connections', String(connections), '--ramp', '0', '--timeout', '30', ...(deflate ? ['--deflate'] : [])],
    durationS,
    deflate,
    only: options.only,
    metrics: [
      {
        id: 'idle-memory', title: `memory per idle ${what} (${n(connections)} held; RSS delta; lower is better)`, better: 'lower', perCpu: false,
        value: (sample) => {
          const result = opened(sample);
          // Read at the end of the hold, which starts once every connection is open (measure.ts steadyWindow).
          if (!Number.isFinite(sample.rssHeldKiB) || !Number.isFinite(sample.rssBeforeKiB)) throw new Error('no RSS samples');
          return ((sample.rssHeldKiB - sample.rssBeforeKiB) * 1024) / result.connect.openAtEnd;
        },
        format: bytes,
      },
      {
        id: 'storm', title: `accept + handshake a storm of ${n(connections)} ${what}s (s; lower is better)`, better: 'lower', perCpu: false,
        value: (sample) => opened(sample).connect.rampS,
        format: seconds,
      },
    ],
  };
}

/**
 * The same scenario under its own pinning: the id gets `-TAG` and the title `(NOTE)`, so a suite
 * can hold a scenario under two placements and each row says which one it used.
 */
export function pinned(scenario: Scenario, pinning: Pinning, tag: string, note: string): Scenario {
  const title = `${scenario.title} (${note})`;
  return {
    ...scenario,
    id: `${scenario.id}-${tag}`,
    title,
    pinning,
    metrics: scenario.metrics.map((metric) => ({
      ...metric,
      title: metric.title.includes(scenario.title) ? metric.title.replace(scenario.title, title) : `${metric.title} (${note})`,
    })),
  };
}

export function describeErrors(result: LoadResult): string {
  return Object.entries(result.errors).sort((a, b) => b[1] - a[1]).map(([kind, n]) => `${kind} ×${n}`).join(', ');
}
