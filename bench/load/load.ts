/**
 * `npm run bench:load`: is `wasmsocket load` ever the bottleneck? One thread of it and the C
 * reference generator (bench/reference/wsgen.c) take turns against the same server process,
 * server on core 0, generator on core 1, a few interleaved rounds; medians, the ratio load/C per
 * row, and each generator's own CPU (a generator near 100% measured itself). Writes
 * bench/results/load.md with the command that made it.
 *
 *   npm run bench:load -- [--seconds 5] [--rounds 3] [--rows echo-20,echo-64k,broadcast] [--servers uws,wasmsocket]
 */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseLoadArgs } from '../../src/load/args.js';
import type { LoadResult, Progress } from '../../src/load/run.js';
import { count, median, percent, ratio } from '../e2e/format.js';
import { steadyWindow } from '../e2e/measure.js';
import { describeNode, shownPath } from '../e2e/node-binaries.js';
import { installCleanup, spawnPinned, stopProcess } from '../e2e/processes.js';
import type { ProcSampler } from '../e2e/sampler.js';
import { COLOURS, ROOT, uwsServer, wasmsocket, type AppKind, type ServerSpec } from '../e2e/servers.js';
import { failedSample, GENERATOR_CPU, HOST, SERVER_CPU, startPinnedServer, type GeneratorSample } from '../reference/pinned-server.js';
import { buildWsgen, runWsgen, WSGEN_WARMUP_S, type WsgenRun } from '../reference/wsgen.js';

const LOAD_DRIVER = join(ROOT, 'dist', 'bench', 'e2e', 'load-driver.js');
const RESULTS = join(ROOT, 'bench', 'results', 'load.md');
/** Past the duration: connecting, draining and closing, generously. */
const GRACE_S = 30;

interface Row {
  id: string;
  label: string;
  app: AppKind;
  /** What the row's ratio should reach (the issue's targets). */
  target: number;
  unit: string;
  reference: Omit<WsgenRun, 'port' | 'seconds' | 'warmupS'>;
  loadArgs: string[];
}

const ROWS: Row[] = [
  {
    id: 'echo-20', label: 'echo 20 B ×100, 4 in flight', app: 'echo', target: 0.8, unit: 'round trips/s',
    reference: { mode: 'echo', connections: 100, inFlight: 4, size: 20 },
    loadArgs: ['--scenario', 'echo', '--connections', '100', '--in-flight', '4', '--size', '20'],
  },
  {
    id: 'echo-64k', label: 'echo 64 KiB ×100, 1 in flight', app: 'echo', target: 0.7, unit: 'round trips/s',
    reference: { mode: 'echo', connections: 100, inFlight: 1, size: 65536 },
    loadArgs: ['--scenario', 'echo', '--connections', '100', '--in-flight', '1', '--size', '65536'],
  },
  {
    id: 'broadcast', label: 'broadcast 28 B to 1 000, ≤ 16 ahead', app: 'pubsub', target: 0.7, unit: 'deliveries/s',
    reference: { mode: 'broadcast', connections: 1000, inFlight: 16, size: 28, topic: 'load' },
    loadArgs: ['--scenario', 'broadcast', '--connections', '1000', '--publishers', '1', '--in-flight', '16', '--size', '28', '--topic', 'load'],
  },
];

const SERVERS: ServerSpec[] = [uwsServer(COLOURS.uws), wasmsocket('wasm', 0, COLOURS.wasmWasmInline, 'wasmsocket, inline')];

interface RowResult {
  row: Row;
  server: ServerSpec;
  tool: GeneratorSample[];
  reference: GeneratorSample[];
  skipped?: string;
}

function parseOptions(): { seconds: number; rounds: number; rows: Row[]; servers: ServerSpec[]; out: string } {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' }, rounds: { type: 'string' }, rows: { type: 'string' }, servers: { type: 'string' },
      out: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write('Usage: npm run bench:load -- [--seconds S (5)] [--rounds N (3)] [--rows echo-20,echo-64k,broadcast] [--servers uws,wasmsocket-wasm-inline] [--out FILE]\n');
    process.exit(0);
  }
  const seconds = Number(values.seconds ?? '5');
  const rounds = Number(values.rounds ?? '3');
  if (!(seconds >= 1 && seconds <= 120)) throw new TypeError('--seconds must be 1-120');
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new TypeError('--rounds must be 1-20');
  const pick = <T extends { id: string }>(items: T[], list: string | undefined, what: string): T[] => {
    if (list === undefined) return items;
    const ids = list.split(',').map((id) => id.trim());
    for (const id of ids) if (!items.some((item) => item.id === id)) throw new TypeError(`unknown ${what} "${id}"; known: ${items.map((item) => item.id).join(', ')}`);
    return items.filter((item) => ids.includes(item.id));
  };
  return { seconds, rounds, rows: pick(ROWS, values.rows, 'row'), servers: pick(SERVERS, values.servers, 'server'), out: values.out ?? RESULTS };
}

/** Why the load tool cannot run the row in this build (a flag it does not know yet), or undefined. */
function unsupported(row: Row): string | undefined {
  try {
    parseLoadArgs([`ws://${HOST}:1/`, ...row.loadArgs]);
    return undefined;
  } catch (error) {
    return `this build of wasmsocket load refuses the row's flags (${(error as Error).message})`;
  }
}

async function runTool(row: Row, port: number, seconds: number, server: ProcSampler): Promise<GeneratorSample> {
  const args = [`ws://${HOST}:${port}/`, ...row.loadArgs, '--ramp', '0', '--threads', '1', '--duration', String(seconds)];
  const proc = spawnPinned(GENERATOR_CPU, process.execPath, [LOAD_DRIVER, ...args], {}, ROOT);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), (seconds + GRACE_S) * 1000);
  const { code, signal } = await proc.exited;
  clearTimeout(timer);
  const line = proc.stdout().trim().split('\n').reverse().find((text) => text.startsWith('{'));
  if (line === undefined) return failedSample(`load exit ${signal ?? code}: ${proc.stderrTail()}`);
  const { result, progress, originMs } = JSON.parse(line) as { result: LoadResult; progress: Progress[]; originMs: number };
  const steady = steadyWindow(progress, seconds, result.connect.rampS);
  const onOurClock = (elapsedS: number) => originMs - performance.timeOrigin + elapsedS * 1000;
  const errors = Object.entries(result.errors).map(([kind, n]) => `${kind} ×${n}`).join(', ');
  return {
    rate: Number.isFinite(steady.rate) ? steady.rate : result.messages.receivedPerSecond,
    cpuPercent: result.generator.busiest,
    serverCpuPercent: server.cpuPercent(onOurClock(steady.fromS), onOurClock(steady.toS)),
    error: result.ok ? (errors === '' ? undefined : `errors: ${errors}`) : `nothing succeeded${errors === '' ? '' : `: ${errors}`}`,
  };
}

async function measureRound(binary: string, entry: RowResult, seconds: number, toolFirst: boolean): Promise<void> {
  let server: Awaited<ReturnType<typeof startPinnedServer>> | undefined;
  try {
    server = await startPinnedServer(entry.server, entry.row.app);
    const { port, sampler } = server;
    const tool = () => runTool(entry.row, port, seconds, sampler).then((sample) => { entry.tool.push(sample); });
    const reference = () => runWsgen(binary, { ...entry.row.reference, port, seconds }, sampler).then((sample) => { entry.reference.push(sample); });
    if (toolFirst) {
      await tool();
      await reference();
    } else {
      await reference();
      await tool();
    }
  } catch (error) {
    const sample = failedSample(`server: ${(error as Error).message}`);
    entry.tool.push(sample);
    entry.reference.push(sample);
  } finally {
    server?.sampler.stop();
    if (server !== undefined) await stopProcess(server.proc);
  }
}

function summarize(entry: RowResult): string {
  const { row, server } = entry;
  if (entry.skipped !== undefined) return `| ${row.label} | ${server.label} | – | – | – | – | – | ${ratio(row.target)} | skipped: ${entry.skipped} |`;
  const rates = (samples: GeneratorSample[]) => median(samples.map((s) => s.rate));
  const tool = rates(entry.tool), reference = rates(entry.reference);
  // The ratio of each round's pair (same server process), then their median.
  const ratios = entry.tool.map((sample, i) => sample.rate / (entry.reference[i]?.rate ?? NaN));
  const value = median(ratios);
  const errors = [...entry.tool, ...entry.reference].map((s) => s.error).filter((e): e is string => e !== undefined);
  const toolCpu = median(entry.tool.map((s) => s.cpuPercent));
  const status = !Number.isFinite(value) ? 'no result' : value >= row.target ? 'met' : 'not met';
  const serverCpu = median([...entry.tool, ...entry.reference].map((s) => s.serverCpuPercent));
  const referenceCpu = median(entry.reference.map((s) => s.cpuPercent));
  // Neither a generator nor the server used its core: something else on the machine took it.
  const starved = toolCpu < 90 && referenceCpu < 90 && serverCpu < 90;
  const notes = [status, ...(toolCpu > 90 ? ['the load tool was the limit (> 90% CPU)'] : []),
    ...(starved ? ['no process used its core: the machine was busy, the figures are not a result'] : []), ...new Set(errors)].join('; ');
  return `| ${row.label} | ${server.label} | ${count(tool)} | ${percent(toolCpu)} | ${count(reference)} | ` +
    `${percent(referenceCpu)} | ${ratio(value)} | ${ratio(row.target)} | ` +
    `${notes} (server CPU ${percent(median(entry.tool.map((s) => s.serverCpuPercent)))} / ${percent(median(entry.reference.map((s) => s.serverCpuPercent)))}) |`;
}

function report(results: RowResult[], options: { seconds: number; rounds: number }, command: string, startLoad: number[]): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const uws = SERVERS.find((server) => server.id === 'uws')!;
  const gcc = (() => {
    try {
      return execFileSync('gcc', ['--version'], { encoding: 'utf8' }).split('\n')[0];
    } catch {
      return 'gcc not found';
    }
  })();
  return `# wasmsocket load against a C reference generator

Made by \`${command}\` on ${new Date().toISOString().slice(0, 10)}: ${cpus().length} × ${cpu}, load average at the start
${startLoad.map((n) => n.toFixed(2)).join(' / ')} (1/5/15 min).

Each row: one server process per round on core ${SERVER_CPU}; on core ${GENERATOR_CPU}, one thread of \`wasmsocket load\`
(\`--threads 1 --ramp 0\`, rate over its steady window) and \`bench/reference/wsgen\` (a minimal epoll client in C,
${gcc}, \`-O2\`; ${WSGEN_WARMUP_S} s warm-up, then its window) take turns against it, in alternating order per round.
${options.rounds} round${options.rounds === 1 ? '' : 's'} of ${options.seconds} s; medians. **load/C** is the median over rounds of
the two generators' rates against the same server process; the target is the ratio one thread of the load tool
must reach. **CPU** is each generator's own CPU time per second of wall time (the load tool's busiest thread, from
\`process.threadCpuUsage()\`; wsgen's from \`CLOCK_PROCESS_CPUTIME_ID\`): near 100% means that generator measured
itself. The server's CPU in the same windows is in the notes (load tool / C).
Both generators check every reply (sequence and bytes) or delivery (order, no loss) they count.

Servers: uWebSockets.js on Node ${describeNode(uws.node, ROOT)}; wasmsocket on Node ${describeNode(process.execPath, ROOT)}
(\`--workers 0\`, WASM codec). Both echo text as sent; broadcast is the pub/sub JSON protocol, one publisher
kept at most 16 publishes ahead of the slowest subscriber.

| row | server | load tool | its CPU | C reference | its CPU | load/C | target | notes |
|---|---|---|---|---|---|---|---|---|
${results.map(summarize).join('\n')}
`;
}

async function main(): Promise<void> {
  const options = parseOptions();
  installCleanup();
  const binary = buildWsgen();
  const startLoad = loadavg();
  const results: RowResult[] = [];
  for (const row of options.rows) {
    const skipped = unsupported(row);
    for (const server of options.servers) results.push({ row, server, tool: [], reference: [], skipped });
  }
  for (let round = 0; round < options.rounds; round++) {
    for (const entry of results) {
      if (entry.skipped !== undefined) continue;
      process.stderr.write(`bench:load: round ${round + 1}/${options.rounds}: ${entry.row.label}, ${entry.server.label}\n`);
      await measureRound(binary, entry, options.seconds, round % 2 === 0);
      const last = (samples: GeneratorSample[]) => samples[samples.length - 1]!;
      process.stderr.write(`  load ${count(last(entry.tool).rate)} (${percent(last(entry.tool).cpuPercent)} CPU), ` +
        `C ${count(last(entry.reference).rate)} (${percent(last(entry.reference).cpuPercent)} CPU)` +
        `${last(entry.tool).error === undefined ? '' : `; load: ${last(entry.tool).error}`}${last(entry.reference).error === undefined ? '' : `; C: ${last(entry.reference).error}`}\n`);
    }
  }
  const command = `npm run bench:load -- ${process.argv.slice(2).join(' ')}`.trim();
  const text = report(results, options, command, startLoad);
  writeFileSync(options.out, text);
  process.stdout.write(text);
  process.stderr.write(`bench:load: wrote ${shownPath(options.out, ROOT)}\n`);
}

await main();
