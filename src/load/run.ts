/**
 * The coordinator: plans the run, starts the shards (inline, worker threads, child processes),
 * merges their progress once a second, says `go` when every shard is connected, `stop` at the
 * duration (or on abort), and merges their final measurements into one LoadResult.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { AckRelay } from './ack-relay.js';
import { UsageError, type LoadOptions, type LoadTarget } from './options.js';
import { explainErrors, type LimitFacts } from './errors.js';
import { startChildGroup, startLocalGroup, type GroupHandle } from './hosts.js';
import { readOpenFileLimit, readPortRange } from './limits.js';
import { generatorCpu, generatorLimitWarning } from './generator-cpu.js';
import { planRun } from './plan.js';
import { loadScenarioModule } from './scenarios/custom.js';
import { mergeStorms, type StormSummary } from './scenarios/reconnect-storm.js';
import type { ControlMessage, ShardMessage } from './shard.js';
import { hintsFor } from './hints.js';
import { RunSeries, type Progress } from './series.js';
import { countErrors, mergeSnapshots, type Counters, type ShardSnapshot } from './stats.js';
import { checkThresholds } from './thresholds.js';
import { percentiles, type LoadResult } from './result.js';

export type { Progress, SeriesPoint } from './series.js';
export type { LoadResult, Percentiles } from './result.js';

export interface RunHooks {
  onProgress?(progress: Progress): void;
  /** Seconds between onProgress calls (default 1). */
  progressIntervalS?: number;
  /** Stops the run early (SIGINT); the result covers what ran. */
  signal?: AbortSignal;
  /** Limits the plan will run into, said once before the run starts. */
  onWarning?(warning: string): void;
  /** Overrides the open-file limit read from the system (tests). */
  openFileLimit?: number;
}

/** One series point per second. */
const SERIES_INTERVAL_MS = 1000;
/**
 * Pause between "every shard is ready" and `go`: a margin for what a scenario cannot see
 * acknowledged (a module's opening messages, a pub/sub server that never answers a subscribe).
 */
const GO_DELAY_MS = 200;
/** After `stop`, how long past the close timeout a shard may take to report before it is killed. */
const REPORT_GRACE_MS = 10_000;

export async function runLoad(options: LoadOptions, hooks: RunHooks = {}): Promise<LoadResult> {
  if (options.scenarioModule !== undefined) {
    // Checked here, once, so a broken module is one clear error before any connection opens.
    await loadScenarioModule(options.scenarioModule).catch((error: Error) => { throw new UsageError(error.message); });
  }
  const openFileLimit = hooks.openFileLimit ?? readOpenFileLimit();
  const portRange = readPortRange();
  const plan = planRun({ ...options, target: await resolveTarget(options.target) }, openFileLimit);
  const facts: LimitFacts = {
    openFileLimit,
    connectionsPerProcess: plan.connectionsPerProcess,
    portRange,
    sourceAddresses: Math.max(1, options.sourceIps.length),
  };
  const warnings = planWarnings(plan.totalConnections, facts);
  for (const warning of warnings) hooks.onWarning?.(warning);

  const series = new RunSeries();
  const results = new Map<number, ShardSnapshot>();
  let readyShards = 0;
  let allReady!: () => void;
  // Every connection has been attempted (opened or failed) and the traffic starts.
  const going = new Promise<void>((resolve) => { allReady = resolve; });
  let goTimer: NodeJS.Timeout | undefined;
  const groups: GroupHandle[] = [];
  const broadcast = (message: ControlMessage) => groups.forEach((group) => group.control(message));
  const acks = options.scenario === 'broadcast' && options.rate === 0 && plan.shards > 1
    ? new AckRelay(plan.processes.flat(), options.publishers) : undefined;

  const onMessage = (message: ShardMessage) => {
    if (message.type === 'progress') {
      series.shardProgress(message);
    } else if (message.type === 'acked') {
      const rose = acks?.update(message.shard, message.acks) ?? [];
      if (rose.length > 0) broadcast({ type: 'acked', acks: rose });
    } else if (message.type === 'started') {
      // The shard runs and starts opening its connections.
    } else if (message.type === 'ready') {
      if (++readyShards === plan.shards) {
        goTimer = setTimeout(() => {
          broadcast({ type: 'go' });
          allReady();
        }, GO_DELAY_MS);
      }
    } else {
      results.set(message.shard, message.snapshot);
    }
  };

  const startedAt = performance.now();
  if (plan.processes.length === 1) groups.push(startLocalGroup(plan.processes[0], onMessage));
  else for (const plans of plan.processes) groups.push(startChildGroup(plans, onMessage));

  // A series point every second; the progress line every progressIntervalS, over the points since the last.
  const ticksPerProgress = Math.max(1, Math.round((hooks.progressIntervalS ?? 1) * 1000 / SERIES_INTERVAL_MS));
  const progressTimer = setInterval(() => {
    series.tick();
    if (hooks.onProgress !== undefined && series.points.length % ticksPerProgress === 0) hooks.onProgress(series.window());
  }, SERIES_INTERVAL_MS);

  // The duration counts from `go`, once every connection has been attempted: start-up and the
  // ramp are not in it, so a slow machine opens every connection before the end, never fewer.
  await new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    void going.then(() => { timer = setTimeout(resolve, options.durationMs); });
    const abort = () => {
      clearTimeout(timer);
      resolve();
    };
    if (hooks.signal?.aborted) abort();
    hooks.signal?.addEventListener('abort', abort, { once: true });
    // A shard that died before starting must not hold the run forever.
    void Promise.all(groups.map((group) => group.exited)).then(abort);
  });
  clearTimeout(goTimer);
  broadcast({ type: 'stop' });
  const deadline = setTimeout(() => groups.forEach((group) => group.kill()), options.closeTimeoutMs + REPORT_GRACE_MS);
  await Promise.all(groups.map((group) => group.exited));
  clearTimeout(deadline);
  clearInterval(progressTimer);
  const elapsedS = (performance.now() - startedAt) / 1000;

  const merged = mergeSnapshots([...results.values()]);
  const lost = plan.shards - results.size;
  if (lost > 0) merged.errors['shard-lost'] = lost;
  const c = merged.counters;
  const errorCount = countErrors(merged.errors);
  const rampS = c.rampMs / 1000;
  const succeeded = options.scenario === 'connect' || options.scenario === 'reconnect-storm' ? c.opened : c.received;
  const generator = generatorCpu(results);
  const limitWarning = generatorLimitWarning(generator);
  if (limitWarning !== undefined) warnings.push(limitWarning);
  const result: LoadResult = {
    scenario: options.scenario,
    url: options.target.url,
    codec: options.codec,
    connections: plan.totalConnections,
    durationS: options.durationMs / 1000,
    elapsedS,
    processes: plan.processes.length,
    threads: plan.shards,
    openFileLimit,
    connectionsPerProcess: plan.connectionsPerProcess,
    connect: {
      attempted: c.attempted,
      opened: c.opened,
      openAtEnd: c.openAtEnd,
      closedClean: c.closedClean,
      abandoned: c.abandoned,
      rampS,
      perSecond: rampS > 0 ? c.opened / rampS : 0,
      handshakeMs: percentiles(merged.handshake),
    },
    messages: {
      sent: c.sent,
      received: c.received,
      skipped: c.skipped,
      other: c.other,
      slowPath: c.slowPath,
      sentPerSecond: merged.sentPerSecond,
      receivedPerSecond: merged.receivedPerSecond,
      bytesSentPerSecond: merged.bytesSentPerSecond,
      bytesReceivedPerSecond: merged.bytesReceivedPerSecond,
      lost: countLost(options.scenario, c),
      duplicated: c.duplicated,
      reordered: c.reordered,
      mismatches: { notEcho: c.mismatchNotEcho, type: c.mismatchType, sequence: c.mismatchSequence, content: c.mismatchContent },
      windowProbes: c.windowProbes,
      subscriptions: { acknowledged: c.subscriptionsAcknowledged, assumed: c.subscriptionsAssumed },
    },
    latencyMs: percentiles(merged.latency),
    serviceMs: percentiles(merged.service),
    generator,
    deflate: { offered: options.deflate !== undefined, agreed: c.deflateAgreed, declined: c.deflateDeclined },
    errors: merged.errors,
    errorCount,
    limits: explainErrors(merged.errors, facts, options.target.url),
    warnings: c.deflateDeclined > 0 ? [...warnings, declinedDeflate(c.deflateDeclined, c.opened)] : warnings,
    hints: [],
    series: series.points,
    ...(options.scenario === 'reconnect-storm'
      ? { storms: mergeStorms([...results.values()].map((snapshot) => (snapshot.scenario ?? []) as StormSummary[])) } : {}),
    thresholds: [],
    ok: succeeded > 0,
  };
  result.hints = hintsFor(options, result, merged.samples);
  result.thresholds = checkThresholds(options.thresholds, result);
  return result;
}

/**
 * Resolves a host name once for the whole run instead of once per connection. A name with
 * several addresses stays a name, so each connection may still try them in turn.
 */
async function resolveTarget(target: LoadTarget): Promise<LoadTarget> {
  if (isIP(target.host) !== 0) return target;
  try {
    const addresses = await lookup(target.host, { all: true });
    return addresses.length === 1 ? { ...target, host: addresses[0].address } : target;
  } catch {
    return target; // every connection will report the lookup error by its code
  }
}

/** The line said when --deflate was asked for and some connections run uncompressed. */
export function declinedDeflate(declined: number, opened: number): string {
  return `--deflate: the server declined permessage-deflate on ${declined} of ${opened} connections (they ran uncompressed)`;
}

/**
 * broadcast: every subscriber open at the end should have received every publish sent; what it
 * did not is lost, plus the gaps of subscribers that closed early (counted by their shards).
 */
function countLost(scenario: string, c: Counters): number {
  return scenario === 'broadcast' ? Math.max(0, c.sent * c.subscribersAtEnd - c.deliveredAtEnd) + c.lost : c.lost;
}

/** Limits the plan will run into, said before they bite. */
function planWarnings(totalConnections: number, facts: LimitFacts): string[] {
  const warnings: string[] = [];
  const ports = facts.portRange[1] - facts.portRange[0] + 1;
  if (totalConnections > ports * facts.sourceAddresses) {
    const needed = Math.ceil(totalConnections / ports);
    warnings.push(`${totalConnections} connections need ${needed} source addresses ` +
      `(${ports} ephemeral ports each, ${facts.portRange[0]}-${facts.portRange[1]}): ` +
      `expect EADDRNOTAVAIL past ${ports * facts.sourceAddresses}; add --source-ips 127.0.0.1-127.0.0.${needed + 1}`);
  } else if (facts.sourceAddresses === 1 && totalConnections > ports / 2) {
    // Measured on Linux 6: connect() took 9 µs per call up to ~12 000 connections from one address
    // and 1.1 ms past 15 000 (the kernel searches its port range), which stalls the ramp.
    warnings.push(`${totalConnections} connections from one source address fill over half of its ${ports} ports: ` +
      'connect() slows down (ms per call), so the ramp lags and handshake times grow; ' +
      `--source-ips 127.0.0.1-127.0.0.${Math.ceil(totalConnections / (ports / 4))} avoids it`);
  }
  return warnings;
}
