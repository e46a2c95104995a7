/** The per-second series as CSV (`--out FILE.csv`): one header row, one row per second. */
import type { SeriesPoint } from './series.js';

const COLUMNS: Array<[header: string, pick: (point: SeriesPoint) => number | null]> = [
  ['t_s', (point) => point.t],
  ['sent_per_s', (point) => point.sent],
  ['received_per_s', (point) => point.received],
  ['latency_p50_ms', (point) => point.p50],
  ['latency_p99_ms', (point) => point.p99],
  ['connections_open', (point) => point.open],
  ['errors_per_s', (point) => point.errors],
  ['generator_cpu_percent', (point) => point.cpuPercent],
];

/** A second without a latency sample (or unknown CPU) is an empty cell, not a 0. */
export function seriesCsv(points: readonly SeriesPoint[]): string {
  const rows = [COLUMNS.map(([header]) => header).join(',')];
  for (const point of points) rows.push(COLUMNS.map(([, pick]) => pick(point) ?? '').join(','));
  return `${rows.join('\n')}\n`;
}
