/**
 * `npm run bench:reference`: the per-core targets measured with the C reference generator alone
 * (bench/reference/wsgen.c), so that no figure rests on our own load tool. Each server on core 0,
 * wsgen on core 1, interleaved rounds, medians; writes bench/results/reference.md and the raw
 * samples to bench/results/raw/.
 *
 *   npm run bench:reference -- [--rounds N (3)] [--seconds S (5)] [--rows id,…] [--servers id,…] [--quick] [--out FILE]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { count, percent } from '../e2e/format.js';
import { shownPath, nodeVersion } from '../e2e/node-binaries.js';
import { PER_CORE_TARGETS } from '../e2e/per-core-targets.js';
import { installCleanup, stopProcess } from '../e2e/processes.js';
import { BROADCAST_IN_FLIGHT } from '../e2e/scenarios.js';
import { COLOURS, ROOT, uwsServer, wasmsocket, wsServer, type ServerSpec } from '../e2e/servers.js';
import { describeEnvironment } from '../e2e/suite.js';
import { failedSample, startPinnedServer, type GeneratorSample, type PinnedServer } from './pinned-server.js';
import { judgeTargets, renderReport, summarizeCell, type ReferenceRow, type ReferenceSample } from './report.js';
import { buildWsgen, runWsgen, WSGEN_WARMUP_S } from './wsgen.js';

const RESULTS = join(ROOT, 'bench', 'results');
/** Per cell besides its window: the server's start and settle, connecting, the warm-up, stopping. */
const CELL_OVERHEAD_S = 3 + WSGEN_WARMUP_S;

const ROWS: ReferenceRow[] = [
  { id: 'echo-20-100-if4', label: 'echo 20 B ×100, 4 in flight', unit: 'round trips/s', app: 'echo', run: { mode: 'echo', connections: 100, inFlight: 4, size: 20 } },
  { id: 'echo-65536-100', label: 'echo 64 KiB ×100, 1 in flight', unit: 'round trips/s', app: 'echo', run: { mode: 'echo', connections: 100, inFlight: 1, size: 65536 } },
  { id: 'echo-1024-100-if4', label: 'echo 1 KiB ×100, 4 in flight', unit: 'round trips/s', app: 'echo', run: { mode: 'echo', connections: 100, inFlight: 4, size: 1024 } },
  {
    id: 'broadcast-28-1000', label: `broadcast 28 B to 1 000, ≤ ${BROADCAST_IN_FLIGHT} ahead`, unit: 'deliveries/s', app: 'pubsub',
    run: { mode: 'broadcast', connections: 1000, inFlight: BROADCAST_IN_FLIGHT, size: 28, topic: 'load' },
  },
];

const rowOf = (metric: string) => metric.split('/')[0]!;
for (const target of PER_CORE_TARGETS) {
  if (!ROWS.some((row) => row.id === rowOf(target.metric))) throw new Error(`bench:reference has no row for the target "${target.label}"`);
}
/** The rows some target compares `server` on: a peer that is no one's yardstick elsewhere runs only there. */
const rowsComparing = (server: string) => [...new Set(PER_CORE_TARGETS.filter((t) => t.server === server || t.versus === server).map((t) => rowOf(t.metric)))];

const SERVERS: ServerSpec[] = [
  wasmsocket('wasm', 0, COLOURS.wasmWasmInline),
  wasmsocket('wasm', 1, COLOURS.wasmWasmWorker),
  uwsServer(COLOURS.uws),
  { ...wsServer(true, COLOURS.wsNative), onlyFor: rowsComparing('ws-bufferutil') },
];

interface Options {
  rounds: number;
  seconds: number;
  quick: boolean;
  rows: ReferenceRow[];
  servers: ServerSpec[];
  out: string;
}

const USAGE = `Usage: npm run bench:reference -- [--rounds N (3)] [--seconds S (5)] [--rows id,…] [--servers id,…] [--quick] [--out FILE]
  --quick       one round of 2 s: a smoke test of the harness, not a result
  --rows        ${ROWS.map((row) => row.id).join(', ')}
  --servers     ${SERVERS.map((server) => server.id).join(', ')}
  --out FILE    the Markdown (default bench/results/reference.md)
Environment: BENCH_UWS_NODE=PATH, the Node that runs uWebSockets.js (as in bench:e2e).
`;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string' }, seconds: { type: 'string' }, rows: { type: 'string' }, servers: { type: 'string' },
      quick: { type: 'boolean' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const rounds = Number(values.rounds ?? (quick ? '1' : '3'));
  const seconds = Number(values.seconds ?? (quick ? '2' : '5'));
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new TypeError('--rounds must be an integer 1-20');
  if (!(seconds >= 1 && seconds <= 120)) throw new TypeError('--seconds must be 1-120');
  const pick = <T extends { id: string }>(items: T[], list: string | undefined, flag: string): T[] => {
    if (list === undefined) return items;
    const ids = list.split(',').map((id) => id.trim()).filter((id) => id !== '');
    for (const id of ids) if (!items.some((item) => item.id === id)) throw new TypeError(`${flag}: unknown id "${id}"; known: ${items.map((item) => item.id).join(', ')}`);
    return items.filter((item) => ids.includes(item.id));
  };
  return { rounds, seconds, quick, rows: pick(ROWS, values.rows, '--rows'), servers: pick(SERVERS, values.servers, '--servers'), out: values.out ?? join(RESULTS, 'reference.md') };
}

const runsOn = (server: ServerSpec, row: ReferenceRow) => server.onlyFor === undefined || server.onlyFor.includes(row.id);

async function measureCell(binary: string, row: ReferenceRow, server: ServerSpec, seconds: number): Promise<GeneratorSample> {
  let started: PinnedServer | undefined;
  try {
    started = await startPinnedServer(server, row.app);
    const sample = await runWsgen(binary, { ...row.run, port: started.port, seconds }, started.sampler);
    if (started.proc.hasExited()) sample.error = `the server exited during the run: ${started.proc.stderrTail()}`.slice(0, 240);
    return sample;
  } catch (error) {
    return failedSample(`server: ${(error as Error).message}`);
  } finally {
    started?.sampler.stop();
    if (started !== undefined) await stopProcess(started.proc);
  }
}

function gccVersion(): string {
  try {
    return execFileSync('gcc', ['--version'], { encoding: 'utf8' }).split('\n')[0]!;
  } catch {
    return 'gcc not found';
  }
}

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench:reference: ${(error as Error).message}\n`);
    process.exit(2);
  }
  installCleanup();
  const binary = buildWsgen();
  const { rows, servers, rounds, seconds } = options;
  const environment = describeEnvironment(servers);
  const startedAt = new Date();
  const cells = rows.reduce((sum, row) => sum + servers.filter((server) => runsOn(server, row)).length, 0);
  const log = (line: string) => process.stderr.write(`bench:reference: ${line}\n`);
  log(`${cells} cells × ${rounds} round${rounds === 1 ? '' : 's'} of ${seconds} s, about ${Math.ceil((cells * rounds * (seconds + CELL_OVERHEAD_S)) / 60)} min`);
  const samples: ReferenceSample[] = [];
  let sequence = 0;
  for (let round = 1; round <= rounds; round++) {
    for (const [index, row] of rows.entries()) {
      const shift = (round - 1 + index) % servers.length;
      for (const server of [...servers.slice(shift), ...servers.slice(0, shift)]) {
        if (!runsOn(server, row)) continue;
        const sample = await measureCell(binary, row, server, seconds);
        samples.push({ ...sample, row: row.id, server: server.id, round });
        log(`[${++sequence}/${cells * rounds}] round ${round} · ${row.label} · ${server.label}: ${count(sample.rate)} ${row.unit}, ` +
          `server ${percent(sample.serverCpuPercent)} CPU, wsgen ${percent(sample.cpuPercent)} CPU${sample.error === undefined ? '' : `; ${sample.error}`}`);
      }
    }
  }
  environment.loadavgAtEnd = loadavg().map((l) => l.toFixed(2)).join(' ');
  const summaries = rows.flatMap((row) => servers.filter((server) => runsOn(server, row)).map((server) => summarizeCell(row.id, server.id, samples)));
  const targets = judgeTargets(PER_CORE_TARGETS, summaries, (id) => servers.find((server) => server.id === id)?.label ?? id);
  const command = `npm run bench:reference${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const finishedAt = new Date();
  const markdown = renderReport({
    command, quick: options.quick, rounds, seconds, warmupS: WSGEN_WARMUP_S, gcc: gccVersion(), environment, startedAt, finishedAt,
    rows, servers, cells: summaries, targets,
  });
  writeFileSync(options.out, markdown);
  const rawDir = join(RESULTS, 'raw');
  mkdirSync(rawDir, { recursive: true });
  const rawPath = join(rawDir, `reference-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(rawPath, JSON.stringify({
    name: 'reference', command, environment, startedAt, finishedAt, rounds, seconds, warmupS: WSGEN_WARMUP_S,
    rows, servers: servers.map(({ id, label, node, unavailable, onlyFor }) => ({ id, label, node, nodeVersion: nodeVersion(node), unavailable, onlyFor })),
    cells: summaries, targets, samples,
  }, null, 1));
  process.stdout.write(markdown);
  log(`wrote ${shownPath(options.out, ROOT)} and ${shownPath(rawPath, ROOT)}`);
}

await main();
