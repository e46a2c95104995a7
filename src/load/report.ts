/** Text output of `wasmsocket load`: the header line, the live progress line and the summary table. */
import type { LoadOptions } from './options.js';
import type { LoadResult, Percentiles } from './result.js';
import type { Progress } from './series.js';
import { SUBSCRIBE_REPLY_QUIET_MS } from './scenarios/broadcast.js';
import { describeValue } from './thresholds.js';

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function count(n: number): string {
  return integer.format(n);
}

function bytes(perSecond: number): string {
  if (perSecond >= 1e9) return `${(perSecond / 1e9).toFixed(2)} GB/s`;
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)} MB/s`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)} kB/s`;
  return `${perSecond.toFixed(0)} B/s`;
}

function ms(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(3);
}

function percentileRow(p: Percentiles): string {
  if (p.count === 0) return 'no samples';
  return `p50 ${ms(p.p50)}  p90 ${ms(p.p90)}  p99 ${ms(p.p99)}  p99.9 ${ms(p.p99_9)}  max ${ms(p.max)}  (ms, ${count(p.count)} samples)`;
}

export function headerLine(options: LoadOptions): string {
  const what = options.scenario === 'broadcast'
    ? `${count(options.connections)} subscribers + ${count(options.publishers)} publishers, ` +
      (options.rate > 0 ? `${count(options.rate)} publishes/s` : `each ≤ ${options.inFlight} ahead of the slowest subscriber`)
    : options.scenario === 'echo'
      ? `${count(options.connections)} connections, ${options.rate > 0 ? `${count(options.rate)} msgs/s` : `${options.inFlight} in flight each`}`
      : `${count(options.connections)} connections`;
  const size = options.scenario === 'echo' || options.scenario === 'broadcast' ? `, ${options.size} B ${options.binary ? 'binary' : 'text'}` : '';
  const ramp = options.ramp > 0 ? `${count(options.ramp)}/s` : 'unlimited';
  const name = options.scenario === 'custom' ? options.scenarioModule!.slice(options.scenarioModule!.lastIndexOf('/') + 1) : options.scenario;
  const shape = options.stages !== undefined
    ? `stages ${options.stages.map((stage) => `${stage.durationMs / 1000}s:${stage.target}`).join(',')}`
    : `ramp ${ramp}`;
  return `wasmsocket load: ${name} → ${options.target.url}: ${what}${size}, ${shape}, ${options.durationMs / 1000} s`;
}

export function progressLine(options: LoadOptions, p: Progress): string {
  const parts = [`${p.elapsedS.toFixed(0).padStart(4)}s`, `open ${count(p.open)}/${count(options.connections + (options.scenario === 'broadcast' ? options.publishers : 0))}`];
  if (options.scenario === 'connect') {
    parts.push(`opened ${count(p.opened)}`);
  } else {
    const received = options.scenario === 'broadcast' ? 'deliveries' : 'msgs';
    parts.push(`${received} ${count(p.receivedPerSecond)}/s`);
    if (p.p50Ms > 0 || p.p99Ms > 0) parts.push(`p50 ${ms(p.p50Ms)} ms`, `p99 ${ms(p.p99Ms)} ms`);
  }
  parts.push(`errors ${count(p.errorCount)}`);
  return parts.join('  ');
}

/** "thread 0 87%" per thread (the busiest few when there are many). */
function generatorRow(result: LoadResult): string {
  const { threads, busiest } = result.generator;
  if (threads.length === 0) return '-';
  const shown = threads.length <= 8 ? threads : [...threads].sort((a, b) => b.cpuPercent - a.cpuPercent).slice(0, 4);
  const list = shown.map((thread) => `thread ${thread.shard} ${thread.cpuPercent.toFixed(0)}%`).join(', ');
  return threads.length <= 8 ? `${list} busy` : `busiest ${busiest.toFixed(0)}%: ${list} (of ${threads.length} threads)`;
}

export function summaryTable(result: LoadResult): string {
  const rows: Array<[string, string]> = [];
  const c = result.connect;
  const m = result.messages;
  rows.push(['run', `${result.scenario} → ${result.url}, ${result.elapsedS.toFixed(1)} s, ` +
    `${result.processes} process${result.processes === 1 ? '' : 'es'}, ${result.threads} thread${result.threads === 1 ? '' : 's'}, codec ${result.codec}`]);
  rows.push(['connections', `${count(c.opened)} opened of ${count(c.attempted)} attempted (${count(result.connections)} planned), ` +
    `${count(c.openAtEnd)} open at the end, ${count(c.closedClean)} closed cleanly (1000)` +
    (c.abandoned > 0 ? `, ${count(c.abandoned)} still connecting at the end` : '')]);
  rows.push(['connect rate', c.rampS > 0 ? `${count(c.perSecond)}/s over ${c.rampS.toFixed(2)} s` : '-']);
  rows.push(['handshake', percentileRow(c.handshakeMs)]);
  if (result.deflate.offered) {
    rows.push(['permessage-deflate', `agreed on ${count(result.deflate.agreed)} of ${count(c.opened)} connections` +
      (result.deflate.declined > 0 ? `, declined on ${count(result.deflate.declined)}` : '')]);
  }
  if (result.scenario === 'echo') {
    rows.push(['round trips', `${count(m.received)} (${count(m.receivedPerSecond)} msgs/s, ${bytes(m.bytesReceivedPerSecond)} each way)` +
      (m.skipped > 0 ? `, ${count(m.skipped)} sends skipped (socket queue full)` : '')]);
    if (result.serviceMs.count > 0) {
      // Paced: latency from each message's slot in the schedule; service time from when it left.
      rows.push(['latency', `${percentileRow(result.latencyMs)}, from the intended send`]);
      rows.push(['service time', `${percentileRow(result.serviceMs)}, from the actual send`]);
    } else {
      rows.push(['latency', percentileRow(result.latencyMs)]);
    }
    const x = m.mismatches;
    if (m.lost > 0 || x.notEcho + x.type + x.sequence + x.content > 0) {
      rows.push(['not echoed', `${count(m.lost)} lost (no reply); mismatches: ${count(x.notEcho)} not an echo, ` +
        `${count(x.type)} text/binary, ${count(x.sequence)} out of sequence, ${count(x.content)} other bytes`]);
    }
  } else if (result.scenario === 'broadcast') {
    rows.push(['publishes', `${count(m.sent)} (${count(m.sentPerSecond)}/s)` + (m.skipped > 0 ? `, ${count(m.skipped)} skipped` : '')]);
    rows.push(['deliveries', `${count(m.received)} (${count(m.receivedPerSecond)}/s, ${bytes(m.bytesReceivedPerSecond)})` +
      (m.other > 0 ? `, ${count(m.other)} other messages` : '')]);
    rows.push(['delivery latency', percentileRow(result.latencyMs)]);
    rows.push(['delivery check', `${count(m.lost)} lost, ${count(m.duplicated)} duplicated, ${count(m.reordered)} reordered` +
      (m.windowProbes > 0 ? ` (${count(m.windowProbes)} publishes sent past a stalled window)` : '')]);
    const s = m.subscriptions;
    rows.push(['subscriptions', `${count(s.acknowledged)} acknowledged before the first publish` + (s.assumed === 0 ? ''
      : `, ${count(s.assumed)} never acknowledged: assumed ready after ${SUBSCRIBE_REPLY_QUIET_MS / 1000} s without a reply ` +
        '(deliveries lost at the start may be subscriptions not yet in place)')]);
  } else if (result.scenario === 'custom') {
    rows.push(['messages', `${count(m.sent)} sent (${count(m.sentPerSecond)}/s), ${count(m.received)} received (${count(m.receivedPerSecond)}/s)` +
      (m.other > 0 ? `, ${count(m.other)} other` : '') + (m.skipped > 0 ? `, ${count(m.skipped)} sends skipped` : '')]);
    rows.push(['reply latency', percentileRow(result.latencyMs)]);
  } else if (result.scenario === 'reconnect-storm') {
    for (const [k, storm] of (result.storms ?? []).entries()) {
      rows.push([`storm ${k + 1}`, `at ${storm.atS.toFixed(1)} s: ${count(storm.dropped)} dropped, ${count(storm.reconnected)} back, ` +
        `${count(storm.failed)} failed, ` + (storm.allBackMs === null ? 'not all back when the run stopped' : `all settled in ${ms(storm.allBackMs)} ms`)]);
    }
    if ((result.storms ?? []).length === 0) rows.push(['storms', 'none: the run ended before the first (--storm-interval)']);
    rows.push(['reconnect time', percentileRow(result.latencyMs)]);
  }
  rows.push(['generator cpu', generatorRow(result)]);
  const errorKinds = Object.entries(result.errors).sort((a, b) => b[1] - a[1]);
  rows.push(['errors', errorKinds.length === 0 ? 'none' : errorKinds.map(([kind, n]) => `${kind} ×${count(n)}`).join(', ')]);
  for (const line of result.limits) rows.push(['limit', line]);
  for (const line of result.warnings) rows.push(['warning', line]);
  for (const line of result.hints) rows.push(['hint', line]);
  if (result.thresholds.length > 0) {
    const passed = result.thresholds.filter((outcome) => outcome.ok).length;
    rows.push(['thresholds', `${passed} of ${result.thresholds.length} passed` +
      result.thresholds.map((outcome) => `; ${outcome.ok ? 'ok' : 'FAILED'} ${outcome.expr} (${describeValue(outcome.value)})`).join('')]);
  }
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n') + '\n';
}
