/** The Markdown report of a suite: how it was run, medians with ratios, targets, per-run details. */
import { percent, ratio } from './format.js';
import { CLIENT_BOUND_PERCENT } from './measure.js';
import type { Cell, Row, SuiteOutcome, TargetResult } from './suite-types.js';

export function renderMarkdown(outcome: SuiteOutcome): string {
  const { config, environment } = outcome;
  const label = (id: string) => config.servers.find((s) => s.id === id)?.label ?? id;
  const baseline = label(config.baseline);
  const reference = config.reference === undefined ? undefined : label(config.reference);
  const minutes = (outcome.finishedAt.getTime() - outcome.startedAt.getTime()) / 60_000;
  const lines: string[] = [];
  lines.push(`# ${config.title}`, '');
  for (const line of config.method) lines.push(`- ${line}`);
  lines.push(`- ${config.repetitions} repetition${config.repetitions > 1 ? 's' : ''}, servers interleaved (order rotated per repetition and scenario); each cell is the **median**. ` +
    `Generated ${outcome.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC in ${minutes.toFixed(1)} min; ` +
    `Node ${environment.node} for the harness and the load generator${environment.serverNodes === undefined ? '' : `, servers on ${environment.serverNodes}`}; ${environment.cpu}; ` +
    `load average ${environment.loadavg} at the start, ${environment.loadavgAtEnd} at the end (a shared machine: other work ran beside it); commit ${environment.commit}.`);
  lines.push(`- Reproduce: \`npm run bench:${config.name}\` (\`-- --quick\`: one short repetition). Raw samples: \`bench/results/raw/${config.name}-*.json\`.`, '');

  lines.push('## Medians', '');
  lines.push(`Each cell: the median, then its ratio to **${baseline}**${reference === undefined ? '' : ` and, after the ·, to **${reference}**`} (value ÷ that server's value; each row says which way is better). ` +
    `**client-bound**: the load generator's busiest thread was over ${CLIENT_BOUND_PERCENT}% of its core in that cell (median over runs), so the cell measured the client, not the server.`, '');
  lines.push(`| | ${config.servers.map((s) => s.label).join(' | ')} |`);
  lines.push(`|---|${config.servers.map(() => '---:').join('|')}|`);
  for (const row of outcome.rows) {
    const cells = config.servers.map((server) => matrixCell(row, server.id, config.baseline, config.reference));
    lines.push(`| ${row.metric.title} | ${cells.join(' | ')} |`);
  }
  lines.push('');

  const comparisons = config.comparisons ?? [];
  if (comparisons.length > 0) {
    lines.push('## Comparisons', '');
    lines.push('Each cell: the first server\'s median ÷ the second\'s, in the same run (same machine state); the row says which way is better.', '');
    lines.push(`| | ${comparisons.map((c) => c.label).join(' | ')} |`);
    lines.push(`|---|${comparisons.map(() => '---:').join('|')}|`);
    for (const row of outcome.rows) {
      const ratios = comparisons.map((c) => {
        const a = row.cells.get(c.server), b = row.cells.get(c.versus);
        return a === undefined || b === undefined || a.notRun === true || b.notRun === true ? '–' : ratio(a.median / b.median);
      });
      if (ratios.some((text) => text !== '–')) lines.push(`| ${row.metric.title} | ${ratios.join(' | ')} |`);
    }
    lines.push('');
  }

  if (outcome.targets.length > 0) {
    lines.push('## Targets', '');
    lines.push('| target | measured | verdict |', '|---|---:|---|');
    for (const target of outcome.targets) lines.push(`| ${target.label} | ${ratio(target.ratio)} | ${verdict(target)} |`);
    lines.push('');
  }

  lines.push('## Details', '');
  lines.push(`Server and client CPU: % of one core (all threads) over the steady part of each run, median over runs. ` +
    `Server waited: % of that time the server's threads (summed) were ready to run but waited for a core, held by another process or by the server's own other threads ` +
    `(GC helpers; in worker mode the main thread and the workers); from /proc/PID/task/*/schedstat. ` +
    `Per server CPU-s: the median rate divided by the server's CPU use, an estimate of what one fully used core would do, useful when the client or the noise, not the server, set the pace. ` +
    `Client busiest thread: the load generator's busiest thread, % of one core (its own per-thread figure, else /proc/PID/task/*/stat); over ${CLIENT_BOUND_PERCENT}% the cell is client-bound.`, '');
  lines.push(`| scenario | server | median | × ${baseline}${reference === undefined ? '' : ` | × ${reference}`} | server CPU | server waited | client CPU | client busiest thread | per server CPU-s | runs |`);
  lines.push(`|---|---|---:|---:|${reference === undefined ? '' : '---:|'}---:|---:|---:|---:|---:|---|`);
  const footnotes: string[] = [];
  for (const row of outcome.rows) {
    for (const server of config.servers) {
      const cell = row.cells.get(server.id)!;
      if (cell.notRun === true) continue;
      const baseCell = row.cells.get(config.baseline);
      const refCell = config.reference === undefined ? undefined : row.cells.get(config.reference);
      let runs = cell.values.map((v) => row.metric.format(v)).join(', ');
      if (cell.errors.length > 0) runs += `${runs === '' ? '' : '; '}${cell.errors.length} failed`;
      const marks: string[] = [];
      for (const text of [...cell.notes, ...cell.errors.map((e) => `error: ${e}`)]) {
        let index = footnotes.indexOf(text);
        if (index < 0) index = footnotes.push(text) - 1;
        marks.push(`[${index + 1}]`);
      }
      const value = Number.isFinite(cell.median) ? row.metric.format(cell.median) : `error${cell.errors.length > 0 ? ` [${footnotes.indexOf(`error: ${cell.errors[0]}`) + 1}]` : ''}`;
      lines.push(`| ${row.metric.title} | ${server.label} | ${value} | ${ratioOf(cell, baseCell)}${refCell === undefined && reference === undefined ? '' : ` | ${ratioOf(cell, refCell)}`} | ` +
        `${row.metric.perCpu ? percent(cell.serverCpu) : '–'} | ${row.metric.perCpu ? percent(cell.serverWait) : '–'} | ${row.metric.perCpu ? percent(cell.loadCpu) : '–'} | ` +
        `${row.metric.perCpu ? `${percent(cell.loadBusiest)}${cell.clientBound ? ' (client-bound)' : ''}` : '–'} | ${row.metric.perCpu ? row.metric.format(cell.perCpuSecond) : '–'} | ${runs}${marks.length > 0 ? ` ${[...new Set(marks)].join('')}` : ''} |`);
    }
  }
  lines.push('');
  if (footnotes.length > 0) {
    lines.push('Notes:', '');
    footnotes.forEach((text, i) => lines.push(`${i + 1}. ${text.replace(/\|/g, '\\|')}`));
    lines.push('');
  }
  lines.push(`![${config.title}](${config.name}.svg)`, '');
  return lines.join('\n');
}

function ratioOf(cell: Cell, base: Cell | undefined): string {
  if (base === undefined) return '–';
  return ratio(cell.median / base.median);
}

function matrixCell(row: Row, id: string, baseline: string, reference: string | undefined): string {
  const cell = row.cells.get(id)!;
  if (cell.notRun === true) return '–';
  if (!Number.isFinite(cell.median)) {
    const reason = cell.errors[0] ?? 'no value';
    return `error: ${reason.length > 90 ? `${reason.slice(0, 90)}…` : reason}`.replace(/\|/g, '\\|');
  }
  const parts = [row.metric.format(cell.median)];
  const ratios: string[] = [];
  // A baseline or reference left out with --servers has no column: its ratio shows as '–'.
  const base = row.cells.get(baseline);
  ratios.push(base === undefined ? '–' : ratio(cell.median / base.median));
  const ref = reference === undefined ? undefined : row.cells.get(reference);
  if (reference !== undefined) ratios.push(ref === undefined ? '–' : ratio(cell.median / ref.median));
  parts.push(ratios.join(' · '));
  const failed = cell.errors.length > 0 ? ` (${cell.values.length}/${cell.values.length + cell.errors.length} runs)` : '';
  if (cell.clientBound) parts.push('**client-bound**');
  return parts.join('<br>') + failed;
}

/** "met (goal ≥ 0.80×, 12% margin)" or "**missed** (goal ≥ 0.80×: 5% short)"; "not measured" without a ratio. */
export function verdict(target: TargetResult): string {
  if (target.met === undefined) return 'not measured (a run failed)';
  const goal = target.atLeast !== undefined ? target.atLeast : target.atMost!;
  const sign = target.atLeast !== undefined ? '≥' : '≤';
  const margin = target.ratio / goal - 1;
  return target.met
    ? `met (goal ${sign} ${ratio(goal)}, ${(Math.abs(margin) * 100).toFixed(0)}% margin)`
    : `**missed** (goal ${sign} ${ratio(goal)}: ${(Math.abs(margin) * 100).toFixed(0)}% ${target.atLeast !== undefined ? 'short' : 'over'})`;
}
