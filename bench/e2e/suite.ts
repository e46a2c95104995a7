/**
 * A benchmark suite: every (scenario, server) pair measured `repetitions` times, interleaved
 * (each repetition goes through every scenario, and within a scenario through every server, in
 * an order rotated per repetition), then medians, ratios against the baseline, targets, and the
 * three outputs: bench/results/<name>.md, <name>.svg and raw/<name>-<time>.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { median, percent } from './format.js';
import { measure, type Placement, CLIENT_BOUND_PERCENT } from './measure.js';
import { describeNode, nodeVersion } from './node-binaries.js';
import { installCleanup } from './processes.js';
import { renderChart } from './chart.js';
import { renderMarkdown } from './report.js';
import type { RunSample, Scenario } from './scenarios.js';
import { ROOT, type ServerSpec } from './servers.js';
import type { Cell, Row, SuiteConfig, SuiteOutcome, Target, TargetResult } from './suite-types.js';

export type { Cell, Row, SuiteConfig, SuiteOutcome, Target, TargetResult } from './suite-types.js';

export async function runSuite(config: SuiteConfig): Promise<SuiteOutcome> {
  if (config.fromRaw !== undefined) return reportAgain(config, config.fromRaw);
  installCleanup();
  const startedAt = new Date();
  const environment = describeEnvironment(config.servers);
  const runsPerRepetition = config.scenarios.reduce((sum, scenario) => sum + config.servers.filter((server) => runs(scenario, server)).length, 0);
  const total = config.repetitions * runsPerRepetition;
  const samples: RunSample[] = [];
  let sequence = 0;
  log(`${config.title}: ${total} runs (${config.repetitions} repetition${config.repetitions > 1 ? 's' : ''} × ${config.scenarios.length} scenarios × up to ${config.servers.length} servers), ` +
    `about ${Math.ceil(estimateSeconds(config) / 60)} min`);
  for (let repetition = 1; repetition <= config.repetitions; repetition++) {
    for (const [index, scenario] of config.scenarios.entries()) {
      const shift = (repetition - 1 + index) % config.servers.length;
      const order = [...config.servers.slice(shift), ...config.servers.slice(0, shift)];
      for (const server of order) {
        if (!runs(scenario, server)) continue;
        sequence++;
        const sample = await measure(server, scenario, config.placement, repetition, sequence);
        samples.push(sample);
        log(`[${sequence}/${total}] rep ${repetition} · ${scenario.title} · ${server.label}: ${summarize(scenario, sample)}`);
      }
    }
  }
  const rows = aggregate(config, samples);
  const targets = evaluateTargets(config, rows);
  const outcome: SuiteOutcome = { config, rows, targets, environment, startedAt, finishedAt: new Date() };
  writeOutputs(outcome, samples);
  return outcome;
}

/** Whether `server` runs `scenario` (a scenario may name its servers). */
export function runs(scenario: Scenario, server: ServerSpec): boolean {
  return (scenario.only === undefined || scenario.only.includes(server.id))
    && (server.onlyFor === undefined || server.onlyFor.includes(scenario.id));
}

/**
 * Seconds a suite takes, roughly: each run's duration plus what measure() adds around it (start,
 * settle, drain, close, stop) and a storm's 10 000 connects and closes, fitted to the 12.3 min
 * of bench:e2e's 126 runs on this 2-core machine (2026-11-26).
 */
const RUN_OVERHEAD_S = 1.5;
const STORM_OVERHEAD_S = 4;

export function estimateSeconds(config: SuiteConfig): number {
  let seconds = 0;
  for (const scenario of config.scenarios) {
    const servers = config.servers.filter((server) => runs(scenario, server)).length;
    const storm = scenario.loadArgs.includes('connect') ? STORM_OVERHEAD_S : 0;
    seconds += servers * (scenario.durationS + RUN_OVERHEAD_S + storm);
  }
  return seconds * config.repetitions;
}

/** A raw JSON file of an earlier run, as writeOutputs() writes it (the parts read back). */
export interface RawRun {
  placement: Placement;
  servers: { id: string; label: string; node?: string; nodeVersion?: string; unavailable?: string }[];
  samples: RunSample[];
  environment: Record<string, string>;
  startedAt: string;
  finishedAt: string;
}

/** `file`: a path (with a '/'), or a name in bench/results/raw/. */
export function rawRunPath(file: string): string {
  return file.includes('/') ? file : join(ROOT, 'bench', 'results', 'raw', file);
}

export function readRawRun(file: string): RawRun {
  return JSON.parse(readFileSync(rawRunPath(file), 'utf8')) as RawRun;
}

/** Rebuilds the Markdown and SVG from the samples of an earlier run (after a change of format). */
function reportAgain(config: SuiteConfig, file: string): SuiteOutcome {
  const path = rawRunPath(file);
  const raw = readRawRun(file);
  const repetitions = Math.max(...raw.samples.map((s) => s.repetition));
  const full = { ...config, repetitions };
  const rows = aggregate(full, raw.samples);
  const outcome: SuiteOutcome = {
    config: full, rows, targets: evaluateTargets(full, rows), environment: raw.environment,
    startedAt: new Date(raw.startedAt), finishedAt: new Date(raw.finishedAt),
  };
  const results = join(ROOT, 'bench', 'results');
  writeFileSync(join(results, `${config.name}.md`), renderMarkdown(outcome));
  writeFileSync(join(results, `${config.name}.svg`), renderChart(outcome));
  log(`re-rendered bench/results/${config.name}.md and .svg from ${path.replace(`${ROOT}/`, '')}`);
  return outcome;
}

function summarize(scenario: Scenario, sample: RunSample): string {
  if (sample.error !== undefined) return `error: ${sample.error}`;
  const values = scenario.metrics.map((metric) => {
    try {
      return `${metric.id} ${metric.format(metric.value(sample))}`;
    } catch (error) {
      return `${metric.id} error: ${(error as Error).message}`;
    }
  });
  return `${values.join(', ')} (server CPU ${percent(sample.serverCpuPercent)}, waited ${percent(sample.serverWaitPercent)}, client CPU ${percent(sample.loadCpuPercent)}, ${sample.wallS.toFixed(1)} s)`;
}

function aggregate(config: SuiteConfig, samples: RunSample[]): Row[] {
  const rows: Row[] = [];
  for (const scenario of config.scenarios) {
    for (const metric of scenario.metrics) {
      const cells = new Map<string, Cell>();
      for (const server of config.servers) {
        if (!runs(scenario, server)) {
          cells.set(server.id, {
            values: [], errors: [], median: NaN, serverCpu: NaN, loadCpu: NaN, loadBusiest: NaN, clientBound: false, serverWait: NaN, perCpuSecond: NaN, notes: [], notRun: true,
          });
          continue;
        }
        const mine = samples.filter((s) => s.scenario === scenario.id && s.server === server.id);
        const values: number[] = [];
        const errors: string[] = [];
        const notes = new Set<string>();
        for (const sample of mine) {
          if (sample.error !== undefined) {
            errors.push(sample.error);
            continue;
          }
          try {
            values.push(metric.value(sample));
          } catch (error) {
            errors.push((error as Error).message);
          }
          for (const note of sample.notes) notes.add(note);
        }
        const ok = mine.filter((s) => s.error === undefined);
        const serverCpu = median(ok.map((s) => s.serverCpuPercent));
        const loadCpu = median(ok.map((s) => s.loadCpuPercent));
        const serverWait = median(ok.map((s) => s.serverWaitPercent));
        const loadBusiest = median(ok.map((s) => s.loadBusiestThreadPercent));
        const value = median(values);
        const clientBound = metric.perCpu && loadBusiest > CLIENT_BOUND_PERCENT;
        if (clientBound) {
          notes.add(`client-bound: the load generator's busiest thread was over ${CLIENT_BOUND_PERCENT}% of its core, so it, not the server, set the pace; "per server CPU-s" estimates the server's own capacity`);
        }
        cells.set(server.id, {
          values, errors, median: value, serverCpu, loadCpu, loadBusiest, clientBound, serverWait, notes: [...notes],
          perCpuSecond: metric.perCpu && serverCpu > 0 ? value / (serverCpu / 100) : NaN,
        });
      }
      rows.push({ scenario, metric, cells });
    }
  }
  return rows;
}

function evaluateTargets(config: SuiteConfig, rows: Row[]): TargetResult[] {
  const rowOf = (target: Target) => rows.find((r) => r.metric.id === target.metric || `${r.scenario.id}/${r.metric.id}` === target.metric);
  // Targets whose row or servers were left out (--servers, --scenarios) are not reported at all.
  const present = config.targets.filter((t) => rowOf(t)?.cells.has(t.server) === true && rowOf(t)?.cells.has(t.versus) === true);
  return present.map((target) => {
    const row = rowOf(target)!;
    const pick = (cell: Cell) => target.basis === 'perCpu' ? cell.perCpuSecond : cell.median;
    const a = pick(row.cells.get(target.server)!);
    const b = pick(row.cells.get(target.versus)!);
    const value = a / b;
    const met = !Number.isFinite(value) ? undefined
      : target.atLeast !== undefined ? value >= target.atLeast : value <= (target.atMost ?? Infinity);
    return { ...target, ratio: value, met };
  });
}

/** The harness's Node, which Node ran which server, the CPU, the load average and the commit, for a report's header. */
export function describeEnvironment(servers: readonly ServerSpec[]): Record<string, string> {
  const git = (args: string[]) => {
    try {
      // stderr ignored: a copy of the repo without .git (a benchmark box) reports '?'.
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '?';
    }
  };
  return {
    node: process.version,
    serverNodes: describeServerNodes(servers),
    cpu: `${cpus()[0]?.model ?? '?'} × ${cpus().length}`,
    loadavg: loadavg().map((l) => l.toFixed(2)).join(' '),
    commit: `${git(['rev-parse', '--short', 'HEAD'])}${['', '?'].includes(git(['status', '--porcelain', '--untracked-files=no'])) ? '' : ' + uncommitted changes'}`,
  };
}

/** "v26.10.0 (node_modules/node/bin/node) for inline · ws; v20.20.2 (/usr/bin/node) for uWebSockets.js" (labels may hold commas). */
function describeServerNodes(servers: readonly ServerSpec[]): string {
  const byNode = new Map<string, string[]>();
  for (const server of servers) {
    const node = server.unavailable === undefined ? describeNode(server.node, ROOT) : 'none (does not run here)';
    byNode.set(node, [...(byNode.get(node) ?? []), server.label]);
  }
  return [...byNode].map(([node, labels]) => `${node} for ${labels.join(' · ')}`).join('; ');
}

function writeOutputs(outcome: SuiteOutcome, samples: RunSample[]): void {
  const results = join(ROOT, 'bench', 'results');
  const raw = join(results, 'raw');
  mkdirSync(raw, { recursive: true });
  outcome.environment.loadavgAtEnd = loadavg().map((l) => l.toFixed(2)).join(' ');
  const markdown = renderMarkdown(outcome);
  writeFileSync(join(results, `${outcome.config.name}.md`), markdown);
  writeFileSync(join(results, `${outcome.config.name}.svg`), renderChart(outcome));
  const stamp = outcome.startedAt.toISOString().replace(/[:.]/g, '-');
  const rawPath = join(raw, `${outcome.config.name}-${stamp}.json`);
  writeFileSync(rawPath, JSON.stringify({
    name: outcome.config.name,
    title: outcome.config.title,
    method: outcome.config.method,
    placement: outcome.config.placement,
    environment: outcome.environment,
    startedAt: outcome.startedAt,
    finishedAt: outcome.finishedAt,
    servers: outcome.config.servers.map(({ id, label, node, unavailable }) => ({ id, label, node, nodeVersion: nodeVersion(node), unavailable })),
    scenarios: outcome.config.scenarios.map(({ id, title, app, loadArgs, durationS, pinning }) => ({ id, title, app, loadArgs, durationS, pinning })),
    medians: outcome.rows.map((row) => ({
      scenario: row.scenario.id, metric: row.metric.id,
      cells: Object.fromEntries([...row.cells].map(([id, cell]) => [id, cell])),
    })),
    targets: outcome.targets,
    samples,
  }, null, 1));
  process.stdout.write(`\n${markdown}\n`);
  log(`wrote bench/results/${outcome.config.name}.md, bench/results/${outcome.config.name}.svg and ${rawPath.replace(`${ROOT}/`, '')}`);
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}
