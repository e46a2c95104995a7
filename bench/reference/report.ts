/**
 * bench:reference's figures: each cell's medians (rate, server CPU, server µs per message, rate
 * per server CPU-second, wsgen's CPU), the per-core targets judged on them, and the Markdown.
 */
import { count, median, percent, ratio } from '../e2e/format.js';
import { CLIENT_BOUND_PERCENT } from '../e2e/measure.js';
import { verdict } from '../e2e/report.js';
import type { ServerSpec } from '../e2e/servers.js';
import type { Target } from '../e2e/suite-types.js';
import type { GeneratorSample } from './pinned-server.js';
import type { WsgenRun } from './wsgen.js';

/** A row, named by bench:e2e's scenario id for the same load (the targets' metrics start with it). */
export interface ReferenceRow {
  id: string;
  label: string;
  unit: string;
  app: 'echo' | 'pubsub';
  run: Omit<WsgenRun, 'port' | 'seconds' | 'warmupS'>;
}

export interface ReferenceSample extends GeneratorSample {
  row: string;
  server: string;
  round: number;
}

export interface CellSummary {
  row: string;
  server: string;
  /** Every round's rate, in the order measured (NaN for a failed round). */
  rounds: number[];
  rate: number;
  serverCpuPercent: number;
  serverMicrosPerMessage: number;
  perCpuSecond: number;
  wsgenCpuPercent: number;
  serverWaitPercent: number;
  /** wsgen was over CLIENT_BOUND_PERCENT of its core: the rate is wsgen's, not the server's. */
  generatorBound: boolean;
  errors: string[];
}

export interface TargetOutcome extends Target {
  rateRatio: number;
  perCpuRatio: number;
  /** The servers of the target whose cell was generator-bound (then it is judged per server CPU-s too). */
  generatorBound: string[];
  met: boolean | undefined;
}

export function summarizeCell(row: string, server: string, samples: readonly ReferenceSample[]): CellSummary {
  const mine = samples.filter((s) => s.row === row && s.server === server);
  const of = (pick: (s: ReferenceSample) => number) => median(mine.map(pick));
  const wsgenCpuPercent = of((s) => s.cpuPercent);
  return {
    row, server, rounds: mine.map((s) => s.rate),
    rate: of((s) => s.rate),
    serverCpuPercent: of((s) => s.serverCpuPercent),
    // % of a core ÷ messages per second: 1% at 10 000/s is 1 µs each.
    serverMicrosPerMessage: of((s) => (s.serverCpuPercent * 1e4) / s.rate),
    perCpuSecond: of((s) => s.rate / (s.serverCpuPercent / 100)),
    wsgenCpuPercent,
    serverWaitPercent: of((s) => s.serverWaitPercent ?? NaN),
    generatorBound: wsgenCpuPercent > CLIENT_BOUND_PERCENT,
    errors: [...new Set(mine.map((s) => s.error).filter((e): e is string => e !== undefined))],
  };
}

/** Each target whose row and both servers were measured in this run. */
export function judgeTargets(targets: readonly Target[], cells: readonly CellSummary[], labelOf: (server: string) => string): TargetOutcome[] {
  const cellOf = (row: string, server: string) => cells.find((c) => c.row === row && c.server === server);
  const outcomes: TargetOutcome[] = [];
  for (const target of targets) {
    const row = target.metric.split('/')[0]!;
    const a = cellOf(row, target.server), b = cellOf(row, target.versus);
    if (a === undefined || b === undefined) continue;
    const rateRatio = a.rate / b.rate;
    const perCpuRatio = a.perCpuSecond / b.perCpuSecond;
    const generatorBound = [a, b].filter((c) => c.generatorBound).map((c) => labelOf(c.server));
    const judged = generatorBound.length > 0 ? perCpuRatio : rateRatio;
    outcomes.push({ ...target, rateRatio, perCpuRatio, generatorBound, met: Number.isFinite(judged) ? judged >= target.atLeast! : undefined });
  }
  return outcomes;
}

function targetVerdict(outcome: TargetOutcome): string {
  const byRates = verdict({ ...outcome, ratio: outcome.rateRatio, met: Number.isFinite(outcome.rateRatio) ? outcome.rateRatio >= outcome.atLeast! : undefined });
  if (outcome.generatorBound.length === 0) return byRates;
  return `${verdict({ ...outcome, ratio: outcome.perCpuRatio, met: outcome.met })} per server CPU-s, since wsgen was the limit in ${outcome.generatorBound.join(' and ')}'s cell; by rates ${byRates}`;
}

function cellNotes(cell: CellSummary): string {
  const notes: string[] = [];
  if (cell.generatorBound) notes.push(`wsgen over ${CLIENT_BOUND_PERCENT}% of its core: it measured itself; per server CPU-s estimates the server`);
  // Each row keeps the server's core busy on a quiet machine; when neither side used its core, other work took them.
  if (cell.serverCpuPercent < CLIENT_BOUND_PERCENT && cell.wsgenCpuPercent < CLIENT_BOUND_PERCENT) {
    notes.push(`neither the server nor wsgen used its core (the server's threads waited for a core ${percent(cell.serverWaitPercent)} of the window, summed): ` +
      'the machine was busy, the figures are not a result');
  }
  const failed = cell.rounds.filter((rate) => !Number.isFinite(rate)).length;
  if (failed > 0) notes.push(`${failed} of ${cell.rounds.length} rounds failed: ${cell.errors.join('; ')}`);
  return notes.join('; ').replace(/\|/g, '\\|');
}

export interface ReportInput {
  command: string;
  quick: boolean;
  rounds: number;
  seconds: number;
  warmupS: number;
  gcc: string;
  environment: Record<string, string>;
  startedAt: Date;
  finishedAt: Date;
  rows: readonly ReferenceRow[];
  servers: readonly ServerSpec[];
  cells: readonly CellSummary[];
  targets: readonly TargetOutcome[];
}

export function renderReport(input: ReportInput): string {
  const { environment: env, rows, servers } = input;
  const minutes = (input.finishedAt.getTime() - input.startedAt.getTime()) / 60_000;
  const skipping = servers.filter((s) => s.onlyFor !== undefined)
    .map((s) => `${s.label} runs only on the rows a target compares it on (${rows.filter((r) => s.onlyFor!.includes(r.id)).map((r) => r.label).join('; ')}), to save time`);
  const lines = [
    '# Per-core speed, driven by the C reference generator', '',
    ...(input.quick ? ['**`--quick`: one short round, a smoke test of the harness, not a result.**', ''] : []),
    `Made by \`${input.command}\` on ${input.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC in ${minutes.toFixed(1)} min at commit ${env.commit}: ` +
      `${env.cpu}; load average ${env.loadavg} at the start, ${env.loadavgAtEnd} at the end (1 / 5 / 15 min). Servers on ${env.serverNodes}.`, '',
    `- Each cell: one server process per round on core 0 (\`taskset -c 0\`; "1 worker" puts its main thread and its worker on that one core), ` +
      `driven by \`bench/reference/wsgen\` on core 1 (\`taskset -c 1\`): a minimal single-threaded epoll WebSocket client in C (${input.gcc}, \`-O2\`) that ` +
      `shares no code with the project and checks every reply or delivery it counts. ${input.warmupS} s warm-up, then a ${input.seconds} s window. ` +
      `${input.rounds} round${input.rounds === 1 ? '' : 's'}, each through every row and, within a row, every server in an order rotated per round and row; each cell is the **median** over rounds.`,
    '- Servers: `wasmsocket serve --app echo|pubsub --codec wasm --workers 0|1` (the real CLI, run as its `#!` line runs it), uWebSockets.js (`bench/apps/uws-echo.ts`, `uws-pubsub.ts`), ' +
      `ws + bufferutil (\`bench/apps/ws-echo.ts --native\`)${skipping.length === 0 ? '' : `; ${skipping.join('; ')}`}. ` +
      'Echo: text, as sent. Broadcast: the pub/sub JSON protocol, one publisher at most 16 publishes ahead of the slowest subscriber (closed loop).',
    '- **rate**: round trips/s (echo) or deliveries/s (broadcast) over wsgen\'s window; **× uWS**: ÷ uWebSockets.js\'s rate in the same row. ' +
      '**server CPU**: % of one core, all its threads (/proc/PID/stat) over the same window; **server µs/msg**: its CPU time per message; ' +
      '**per server CPU-s**: rate ÷ server CPU, what one fully used core would do. **wsgen CPU**: its own CPU time per wall second (`CLOCK_PROCESS_CPUTIME_ID`): ' +
      `over ${CLIENT_BOUND_PERCENT}% wsgen was the limit and the cell measured it; a target with such a cell is judged per server CPU-s.`,
    `- Reproduce: \`npm run bench:reference\` (\`-- --quick\`: one short round). Raw samples: \`bench/results/raw/reference-*.json\`.`, '',
    '## Cells', '',
    '| row | server | rate | × uWS | server CPU | server µs/msg | per server CPU-s | wsgen CPU | each round | notes |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|---|',
  ];
  for (const row of rows) {
    const uws = input.cells.find((c) => c.row === row.id && c.server === 'uws');
    for (const server of servers) {
      const cell = input.cells.find((c) => c.row === row.id && c.server === server.id);
      if (cell === undefined) continue;
      lines.push(`| ${row.label} (${row.unit}) | ${server.label} | ${count(cell.rate)} | ${uws === undefined ? '–' : ratio(cell.rate / uws.rate)} | ` +
        `${percent(cell.serverCpuPercent)} | ${Number.isFinite(cell.serverMicrosPerMessage) ? cell.serverMicrosPerMessage.toPrecision(3) : '–'} | ` +
        `${count(cell.perCpuSecond)} | ${percent(cell.wsgenCpuPercent)}${cell.generatorBound ? ' **(limit)**' : ''} | ${cell.rounds.map(count).join(' / ')} | ${cellNotes(cell)} |`);
    }
  }
  lines.push('', '## Targets', '', 'The same targets as `bench:e2e` (bench/e2e/per-core-targets.ts): ratios of the medians, by rates and per server CPU-second.', '',
    '| target | rates | per server CPU-s | verdict |', '|---|---:|---:|---|');
  for (const outcome of input.targets) lines.push(`| ${outcome.label} | ${ratio(outcome.rateRatio)} | ${ratio(outcome.perCpuRatio)} | ${targetVerdict(outcome)} |`);
  if (input.targets.length === 0) lines.push('| (no target has its row and both servers in this run) | – | – | – |');
  return `${lines.join('\n')}\n`;
}
