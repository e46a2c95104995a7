/**
 * A self-contained SVG chart of a suite: one panel per row (scenario metric), one horizontal bar
 * per server in that server's colour, scaled to the row's largest value, labelled with the median
 * and its ratio to the baseline. Hand-written SVG: no library, opens in any browser.
 */
import { ratio } from './format.js';
import type { SuiteOutcome } from './suite-types.js';

const WIDTH = 980;
const LABEL_W = 200;
const VALUE_W = 190;
const BAR_H = 16;
const GAP = 4;
const TITLE_H = 22;
const PANEL_GAP = 14;

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function renderChart(outcome: SuiteOutcome): string {
  const { config, rows } = outcome;
  const servers = config.servers;
  const baselineLabel = servers.find((s) => s.id === config.baseline)?.label ?? config.baseline;
  const barMax = WIDTH - LABEL_W - VALUE_W - 20;
  const parts: string[] = [];
  let y = 30;
  parts.push(`<text x="10" y="${y}" font-size="17" font-weight="bold">${escape(config.title)}</text>`);
  y += 22;
  parts.push(`<text x="10" y="${y}" font-size="12" fill="#444">${escape(`Medians of ${config.repetitions} run${config.repetitions > 1 ? 's' : ''}; in brackets the ratio to ${baselineLabel}. Bars are scaled per panel.`)}</text>`);
  y += 20;
  // Legend
  let x = 10;
  for (const server of servers) {
    parts.push(`<rect x="${x}" y="${y - 11}" width="12" height="12" fill="${server.colour}"/>`);
    parts.push(`<text x="${x + 16}" y="${y}" font-size="12">${escape(server.label)}</text>`);
    x += 16 + server.label.length * 7 + 18;
    if (x > WIDTH - 150) {
      x = 10;
      y += 18;
    }
  }
  y += 16;
  for (const row of rows) {
    y += PANEL_GAP;
    parts.push(`<text x="10" y="${y + 14}" font-size="13" font-weight="bold">${escape(row.metric.title)}</text>`);
    y += TITLE_H;
    const finite = [...row.cells.values()].map((c) => c.median).filter((v) => Number.isFinite(v) && v > 0);
    const max = finite.length > 0 ? Math.max(...finite) : 1;
    const base = row.cells.get(config.baseline)?.median ?? NaN;
    for (const server of servers) {
      const cell = row.cells.get(server.id)!;
      const textY = y + BAR_H - 4;
      parts.push(`<text x="${LABEL_W - 8}" y="${textY}" font-size="12" text-anchor="end">${escape(server.label)}</text>`);
      if (cell.notRun === true) {
        parts.push(`<text x="${LABEL_W}" y="${textY}" font-size="12" fill="#888">not run in this row</text>`);
      } else if (Number.isFinite(cell.median)) {
        const width = Math.max(1, (Math.max(0, cell.median) / max) * barMax);
        parts.push(`<rect x="${LABEL_W}" y="${y}" width="${width.toFixed(1)}" height="${BAR_H}" fill="${server.colour}"/>`);
        const ratioText = server.id === config.baseline || !Number.isFinite(base) ? '' : ` (${ratio(cell.median / base)})`;
        parts.push(`<text x="${(LABEL_W + width + 6).toFixed(1)}" y="${textY}" font-size="12">${escape(row.metric.format(cell.median) + ratioText)}</text>`);
      } else {
        const reason = cell.errors[0] ?? 'no value';
        parts.push(`<text x="${LABEL_W}" y="${textY}" font-size="12" fill="#b00">${escape(`error: ${reason.length > 100 ? `${reason.slice(0, 100)}…` : reason}`)}</text>`);
      }
      y += BAR_H + GAP;
    }
  }
  y += 16;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
${parts.join('\n')}
</svg>
`;
}
