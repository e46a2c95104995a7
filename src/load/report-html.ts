/**
 * `--out FILE.html`: one self-contained page (no script, no stylesheet or font from elsewhere)
 * with the run's summary and one inline SVG chart per measure of the per-second series, so it
 * opens offline and can be attached to a CI run as it is.
 */
import type { LoadResult, Percentiles } from './result.js';
import type { SeriesPoint } from './series.js';
import { describeValue } from './thresholds.js';

interface Line {
  name: string;
  color: string;
  pick: (point: SeriesPoint) => number | null;
}

interface Chart {
  id: string;
  title: string;
  unit: string;
  lines: Line[];
}

const CHARTS: Chart[] = [
  { id: 'messages', title: 'Messages per second', unit: 'msgs/s', lines: [
    { name: 'sent', color: '#1f77b4', pick: (p) => p.sent },
    { name: 'received', color: '#2ca02c', pick: (p) => p.received },
  ] },
  { id: 'latency', title: 'Latency', unit: 'ms', lines: [
    { name: 'p50', color: '#1f77b4', pick: (p) => p.p50 },
    { name: 'p99', color: '#d62728', pick: (p) => p.p99 },
  ] },
  { id: 'connections', title: 'Connections open', unit: 'connections', lines: [
    { name: 'open', color: '#9467bd', pick: (p) => p.open },
  ] },
  { id: 'errors', title: 'Errors per second', unit: 'errors/s', lines: [
    { name: 'errors', color: '#d62728', pick: (p) => p.errors },
  ] },
  { id: 'cpu', title: 'Generator CPU (busiest thread, % of one core)', unit: '%', lines: [
    { name: 'cpu', color: '#ff7f0e', pick: (p) => p.cpuPercent },
  ] },
];

const WIDTH = 640;
const HEIGHT = 220;
const PAD = { left: 64, right: 16, top: 16, bottom: 32 };

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function round(value: number): string {
  return Number(value.toFixed(value >= 100 ? 0 : 3)).toString();
}

/** A ceiling for the y axis: 1, 2 or 5 times a power of ten, at least the largest value. */
function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((step) => step * power).find((candidate) => candidate >= value)!;
}

function chartSvg(chart: Chart, points: readonly SeriesPoint[]): string {
  const lastT = points.length === 0 ? 1 : Math.max(1, points[points.length - 1].t);
  const values = chart.lines.flatMap((line) => points.map(line.pick)).filter((v): v is number => v !== null);
  const top = niceMax(Math.max(0, ...values));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (t: number) => PAD.left + (t / lastT) * plotW;
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;
  const parts: string[] = [];
  for (const fraction of [0, 0.5, 1]) {
    const gy = y(top * fraction);
    parts.push(`<line class="grid" x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${gy}" y2="${gy}"/>`,
      `<text class="axis" x="${PAD.left - 6}" y="${gy + 4}" text-anchor="end">${round(top * fraction)}</text>`);
  }
  parts.push(`<text class="axis" x="${PAD.left}" y="${HEIGHT - 8}">0 s</text>`,
    `<text class="axis" x="${WIDTH - PAD.right}" y="${HEIGHT - 8}" text-anchor="end">${round(lastT)} s</text>`);
  for (const line of chart.lines) {
    const dots: string[] = [];
    const segments: string[][] = [[]];
    for (const point of points) {
      const value = line.pick(point);
      if (value === null) {
        if (segments[segments.length - 1].length > 0) segments.push([]);
        continue;
      }
      const cx = x(point.t).toFixed(1), cy = y(value).toFixed(1);
      segments[segments.length - 1].push(`${cx},${cy}`);
      dots.push(`<circle class="point" cx="${cx}" cy="${cy}" r="3" fill="${line.color}" data-t="${point.t}" data-value="${value}">` +
        `<title>${escapeHtml(`${point.t} s: ${line.name} ${round(value)} ${chart.unit}`)}</title></circle>`);
    }
    const polylines = segments.filter((segment) => segment.length > 0)
      .map((segment) => `<polyline fill="none" stroke="${line.color}" stroke-width="2" points="${segment.join(' ')}"/>`);
    parts.push(`<g class="series" data-series="${line.name}" data-points="${dots.length}">${polylines.join('')}${dots.join('')}</g>`);
  }
  const legend = chart.lines.map((line) => `<span class="key" style="color:${line.color}">■ ${escapeHtml(line.name)}</span>`).join(' ');
  return `<figure id="chart-${chart.id}" class="chart"><figcaption>${escapeHtml(chart.title)} (${escapeHtml(chart.unit)}) ${legend}</figcaption>` +
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" ` +
    `aria-label="${escapeHtml(chart.title)}">${parts.join('')}</svg></figure>`;
}

function percentileText(p: Percentiles): string {
  if (p.count === 0) return 'no samples';
  return `p50 ${p.p50} · p90 ${p.p90} · p99 ${p.p99} · p99.9 ${p.p99_9} · max ${p.max} ms (${p.count} samples)`;
}

function summaryRows(result: LoadResult): Array<[string, string]> {
  const m = result.messages;
  const rows: Array<[string, string]> = [
    ['scenario', `${result.scenario} → ${result.url}`],
    ['run', `${result.elapsedS.toFixed(1)} s, ${result.threads} thread(s), ${result.processes} process(es), codec ${result.codec}`],
    ['connections', `${result.connect.opened} opened of ${result.connect.attempted} attempted, ${result.connect.openAtEnd} open at the end`],
    ['handshake', percentileText(result.connect.handshakeMs)],
    ['messages', `${m.sent} sent (${Math.round(m.sentPerSecond)}/s), ${m.received} received (${Math.round(m.receivedPerSecond)}/s)`],
    ['latency', percentileText(result.latencyMs)],
    ['errors', Object.keys(result.errors).length === 0 ? 'none'
      : Object.entries(result.errors).map(([kind, n]) => `${kind} ×${n}`).join(', ')],
  ];
  for (const line of [...result.limits, ...result.warnings]) rows.push(['note', line]);
  for (const hint of result.hints) rows.push(['hint', hint]);
  for (const outcome of result.thresholds) rows.push(['threshold', `${outcome.ok ? 'ok' : 'FAILED'}: ${outcome.expr} (${describeValue(outcome.value)})`]);
  return rows;
}

export function reportHtml(result: LoadResult): string {
  const rows = summaryRows(result).map(([label, value]) =>
    `<tr${label === 'threshold' && value.startsWith('FAILED') ? ' class="failed"' : ''}><th>${escapeHtml(label)}</th><td>${escapeHtml(value)}</td></tr>`).join('\n');
  const charts = CHARTS.map((chart) => chartSvg(chart, result.series)).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>wasmsocket load: ${escapeHtml(result.scenario)} → ${escapeHtml(result.url)}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin-bottom: 24px; }
th { text-align: left; padding: 2px 12px 2px 0; vertical-align: top; }
td { padding: 2px 0; }
tr.failed td { color: #d62728; font-weight: bold; }
.chart { margin: 0 0 24px 0; }
figcaption { font-weight: bold; margin-bottom: 4px; }
.key { font-weight: normal; margin-left: 8px; }
.grid { stroke: #ddd; }
.axis { font-size: 11px; fill: #666; }
</style></head>
<body>
<h1>wasmsocket load: ${escapeHtml(result.scenario)}</h1>
<table id="summary">
${rows}
</table>
${charts}
</body></html>
`;
}
