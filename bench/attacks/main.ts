/**
 * `npm run bench:attacks`: the unscaled attacks against `wasmsocket serve` (a child
 * process, inline and `--workers 1`), each with a bystander client doing round trips throughout.
 * Per attack and mode: bytes on the wire, server RSS before / at its peak / after the attack's
 * connections closed, the bystander's p99, whether the server stayed up, and the target next to
 * each row. Prints a Markdown table; `--scale 0.01` runs every attack at 1% (a smoke test).
 */
import { parseArgs } from 'node:util';
import { readOpenFileLimit } from '../../src/load/limits.js';
import { installCleanup } from '../e2e/processes.js';
import { fdExhaustion, fragments, nonReadingEcho, pingFlood, subscriptionFlood, type Attack, type MeasuredRow } from './attacks.js';
import { Bystander, type BystanderReport } from './bystander.js';
import { HOST, isUp, probeHealth, settledRss, startTarget, stopTarget, workersOf, type Mode } from './target.js';
import { burstAttacks } from './burst-attacks.js';
import { hoardingHandler, publishFlood, subscriptionsFromOneAddress } from './memory-attacks.js';

const USAGE = `Usage: npm run bench:attacks -- [--attacks id,…] [--modes inline,w1,w2] [--scale F] [--serve-args="…"]
  --attacks   only these (default all): fragments, nonreading-echo, ping-flood, subscription-flood, fd-exhaustion,
              deflate-burst, async-reject, fd-burst, http-edges, publish-flood, subscriptions-one-address,
              hoarding-handler
  --modes     inline (--workers 0), w1 (--workers 1), w2 (--workers 2) (default: each attack's own, inline and w1
              for the first five, inline and w2 for the others)
  --scale F   multiply every count and time budget by F, 0 < F ≤ 1 (default 1: the issue's attacks)
  --serve-args="FLAGS"  more \`wasmsocket serve\` flags for every run (e.g. "--max-subscriptions 1000"),
              split at spaces
`;
/** After the attack closed its connections: the lowest RSS over this long is "after close". */
const SETTLE_MS = 3000;
const SERVER_CPUS = '0';

const { values } = parseArgs({
  options: {
    attacks: { type: 'string' }, modes: { type: 'string' }, scale: { type: 'string' }, 'serve-args': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const scale = values.scale === undefined ? 1 : Number(values.scale);
if (!(scale > 0 && scale <= 1)) throw new TypeError(`--scale must be a number in (0, 1], got ${values.scale}`);
const serveArgs = (values['serve-args'] ?? '').split(' ').filter((arg) => arg !== '');
const all = [fragments, nonReadingEcho, pingFlood, subscriptionFlood, fdExhaustion(readOpenFileLimit(), probeHealth), ...burstAttacks(readOpenFileLimit()),
  publishFlood, subscriptionsFromOneAddress, hoardingHandler];
const attacks = pick(all, values.attacks, 'attack');
const chosenModes = values.modes === undefined ? undefined
  : pick([{ id: 'inline' as Mode }, { id: 'w1' as Mode }, { id: 'w2' as Mode }], values.modes, 'mode').map((m) => m.id);

interface Row extends MeasuredRow {
  attack: Attack;
  mode: Mode;
  command: string;
  bystander: BystanderReport;
  health: string;
  seconds: number;
  error?: string;
}

installCleanup();
const startedAt = Date.now();
const rows: Row[] = [];
for (const attack of attacks) {
  for (const mode of chosenModes ?? attack.modes ?? ['inline', 'w1']) {
    log(`${attack.id} · ${mode} …`);
    const row = await measure(attack, mode);
    rows.push(row);
    log(`${attack.id} · ${mode}: ${row.error ?? `peak +${mib(row.rssPeakKiB - row.rssBeforeKiB)}, after ${pct(row.rssAfterKiB, row.rssBeforeKiB)}, bystander p99 ${row.bystander.p99Ms.toFixed(1)} ms, ${row.up ? 'up' : 'DOWN'}`} (${row.seconds.toFixed(0)} s)`);
  }
}
process.stdout.write(renderTable(rows));
log(`${rows.length} runs in ${((Date.now() - startedAt) / 60_000).toFixed(1)} min${scale < 1 ? ` at scale ${scale} (not the issue's attacks: a smoke test)` : ''}`);

async function measure(attack: Attack, mode: Mode): Promise<Row> {
  const started = performance.now();
  let target;
  try {
    target = await startTarget(attack.app, mode, SERVER_CPUS, [...attack.serveArgs ?? [], ...serveArgs], attack.setup);
  } catch (error) {
    return {
      attack, mode, command: '', outcome: { sentBytes: 0, receivedBytes: 0, connections: 0, notes: [] },
      rssBeforeKiB: NaN, rssPeakKiB: NaN, rssAfterKiB: NaN, bystanderP99Ms: NaN, up: false,
      bystander: { count: 0, p50Ms: NaN, p99Ms: NaN, maxMs: NaN, timeouts: 0, errors: {} }, health: 'did not start',
      seconds: (performance.now() - started) / 1000, error: `server did not start: ${(error as Error).message.slice(0, 200)}`,
    };
  }
  const bystander = new Bystander(`ws://${HOST}:${target.port}/`, attack.app);
  const row: Row = {
    attack, mode, command: target.command, outcome: { sentBytes: 0, receivedBytes: 0, connections: 0, notes: [] },
    rssBeforeKiB: target.sampler.sample()?.rssKiB ?? NaN, rssPeakKiB: NaN, rssAfterKiB: NaN, bystanderP99Ms: NaN, up: false,
    bystander: { count: 0, p50Ms: NaN, p99Ms: NaN, maxMs: NaN, timeouts: 0, errors: {} }, health: '', seconds: 0,
  };
  try {
    bystander.start();
    const from = performance.now();
    row.outcome = await attack.run({ target, scale });
    row.rssPeakKiB = target.sampler.peakRss(from, performance.now());
    row.rssAfterKiB = await settledRss(target, SETTLE_MS);
  } catch (error) {
    row.error = (error as Error).message.slice(0, 200);
  } finally {
    row.bystander = await bystander.stop();
    row.bystanderP99Ms = row.bystander.p99Ms;
    const { up, health } = await isUp(target);
    row.up = up;
    row.health = `${health.status}`;
    await stopTarget(target);
    row.seconds = (performance.now() - started) / 1000;
  }
  return row;
}

function renderTable(all: Row[]): string {
  const lines = ['', `# wasmsocket under attack${scale < 1 ? ` (scale ${scale}: a smoke test, not the attacks)` : ''}`, '',
    `Server: \`wasmsocket serve${serveArgs.length > 0 ? ` ${serveArgs.join(' ')}` : ''}\` (the CLI; maxPayload 16 MiB by default) pinned to core ${SERVER_CPUS}; RSS from /proc every 50 ms; ` +
    `"after close": the lowest RSS over the ${SETTLE_MS / 1000} s after the attack's connections closed. ` +
    'Bystander: one `ws` client doing round trips one after another throughout (echo: 20 B; pub/sub: a publish to its own topic and its delivery), HDR histogram.', '',
    '| attack | mode | wire sent / received | RSS before | peak (growth) | after close | bystander p99 (max, n) | up | target | notes |',
    '|---|---|---:|---:|---:|---:|---:|---|---|---|'];
  for (const row of all) {
    const growth = row.rssPeakKiB - row.rssBeforeKiB;
    const perConn = row.outcome.connections > 1 ? `, ${mib(growth / row.outcome.connections)}/conn` : '';
    const targets: string[] = [];
    if (row.attack.goal !== undefined && row.error === undefined) targets.push(`${row.attack.goal.text}: ${row.attack.goal.met(row) ? 'met' : '**missed**'}`);
    const afterOk = Math.abs(row.rssAfterKiB - row.rssBeforeKiB) <= 0.2 * row.rssBeforeKiB;
    if (row.error === undefined) targets.push(`after close within 20 % of before: ${afterOk ? 'met' : '**missed**'}`);
    const b = row.bystander;
    const bystander = b.count === 0 ? 'none' : `${b.p99Ms.toFixed(1)} ms (${b.maxMs.toFixed(0)} ms, ${b.count})`;
    const bystanderNotes = [b.timeouts > 0 ? `bystander timeouts ×${b.timeouts}` : '', ...Object.entries(b.errors).map(([k, n]) => `bystander ${k} ×${n}`)].filter((t) => t !== '');
    const notes = [...(row.error === undefined ? [] : [`error: ${row.error}`]), ...row.outcome.notes, ...bystanderNotes, row.up ? '' : `/healthz at the end: ${row.health}`]
      .filter((t) => t !== '').join('; ').replace(/\|/g, '\\|');
    lines.push(`| ${row.attack.title} | ${row.mode === 'inline' ? 'inline' : `--workers ${workersOf(row.mode)}`} | ${mib(row.outcome.sentBytes / 1024)} / ${mib(row.outcome.receivedBytes / 1024)} | ` +
      `${mib(row.rssBeforeKiB)} | ${mib(row.rssPeakKiB)} (+${mib(growth)}${perConn}) | ${mib(row.rssAfterKiB)} (${pct(row.rssAfterKiB, row.rssBeforeKiB)}) | ` +
      `${bystander} | ${row.up ? 'yes' : '**no**'} | ${targets.join('; ')} | ${notes} |`);
  }
  return `${lines.join('\n')}\n`;
}

function mib(kib: number): string {
  if (!Number.isFinite(kib)) return '–';
  return kib >= 1024 ? `${(kib / 1024).toFixed(1)} MiB` : `${kib.toFixed(0)} KiB`;
}

function pct(after: number, before: number): string {
  if (!Number.isFinite(after) || !Number.isFinite(before)) return '–';
  const change = (after / before - 1) * 100;
  return `${change >= 0 ? '+' : ''}${change.toFixed(0)} %`;
}

function pick<T extends { id: string }>(items: T[], list: string | undefined, what: string): T[] {
  if (list === undefined) return items;
  const ids = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const id of ids) if (!items.some((item) => item.id === id)) throw new TypeError(`unknown ${what} "${id}"; known: ${items.map((i) => i.id).join(', ')}`);
  return items.filter((item) => ids.includes(item.id));
}

function log(line: string): void {
  process.stderr.write(`bench:attacks: ${line}\n`);
}
