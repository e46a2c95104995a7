/**
 * `npm run bench:load-tools`: `wasmsocket load` beside artillery (its WebSocket engine, the npm
 * `artillery` package) against the same server, each tool pinned to one core:
 *   1. the highest rate each drives: 100 connections, each with one message in flight (artillery's
 *      `send` + `match` waits for the reply, so a virtual user cannot pipeline; ours gets the same
 *      `--in-flight 1`), round trips/s and the tool's CPU; then each tool's own way to more load
 *      (ours: 16 in flight on the same connections; artillery: 1 000 virtual users);
 *   2. what each reports at the same fixed rate: `wasmsocket load --rate R` over 100 connections
 *      (round trip of each message, timed from its intended send time), and artillery at an arrival
 *      rate of R virtual users/s, each sending one message and waiting for it (artillery's ws engine
 *      times no message: its only latency is `vusers.session_length`, connect + handshake + one
 *      round trip).
 * The server is wasmsocket's echo app, inline, on core 0; the tools run on core 1, one after the
 * other. artillery is not a dependency (about 460 packages and 460 MB): it is looked for at
 * $ARTILLERY, then node_modules/.bin/artillery; without it its cells say how to get it.
 *   node dist/bench/load-tools/load-tools.js [--duration S] [--rate R]
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { LoadResult, Progress } from '../../src/load/run.js';
import { count, percent } from '../e2e/format.js';
import { steadyWindow } from '../e2e/measure.js';
import { freePort, installCleanup, spawnPinned, stopProcess, waitForPort, type Pinned } from '../e2e/processes.js';
import { ProcSampler } from '../e2e/sampler.js';
import { ROOT, wasmsocket } from '../e2e/servers.js';

const HOST = '127.0.0.1';
const CONNECTIONS = 100;
const SERVER_CPUS = '0';
const TOOL_CPUS = '1';
/** The message both tools send: 20 bytes of JSON (artillery's `match` reads JSON). */
const MESSAGE = '{"a":1,"p":"xxxxxx"}';
/** Each tool's own way to more load: messages in flight per connection (ours), more virtual users (artillery cannot pipeline). */
const PIPELINE = 16;
const MANY_USERS = 1000;
const ARTILLERY_VERSION = '2.0.34';
const LOAD_DRIVER = join(ROOT, 'dist', 'bench', 'e2e', 'load-driver.js');

const { values } = parseArgs({ options: { duration: { type: 'string' }, rate: { type: 'string' } } });
const durationS = Number(values.duration ?? 5);
const fixedRate = Number(values.rate ?? 200);

interface ToolRun {
  rate: number;
  cpuPercent: number;
  p50: number;
  p99: number;
  what: string;
  error?: string;
}

function findArtillery(): string | undefined {
  const candidates = [process.env.ARTILLERY, join(ROOT, 'node_modules', '.bin', 'artillery')];
  return candidates.find((path): path is string => path !== undefined && path !== '' && existsSync(path));
}

async function withServer<T>(body: (url: string) => Promise<T>): Promise<T> {
  const port = await freePort();
  const spec = wasmsocket('wasm', 0, '#000');
  const server = spawnPinned(SERVER_CPUS, spec.node, spec.args('echo', HOST, port)!, spec.env, ROOT);
  try {
    await waitForPort(server, HOST, port);
    return await body(`ws://${HOST}:${port}/`);
  } finally {
    await stopProcess(server, 3000);
  }
}

async function runOurs(url: string, flags: string[]): Promise<ToolRun> {
  const args = [url, '--scenario', 'echo', '--connections', String(CONNECTIONS), '--size', '20', '--duration', String(durationS), ...flags];
  const proc = spawnPinned(TOOL_CPUS, process.execPath, [LOAD_DRIVER, ...args], {}, ROOT);
  const sampler = new ProcSampler(proc.pid);
  await proc.exited;
  sampler.stop();
  const line = proc.stdout().trim().split('\n').pop() ?? '';
  if (!line.startsWith('{')) return failed(`wasmsocket load: ${proc.stderrTail()}`);
  const { result, progress, originMs } = JSON.parse(line) as { result: LoadResult; progress: Progress[]; originMs: number };
  const steady = steadyWindow(progress, durationS, result.connect.rampS);
  const onOurClock = (elapsedS: number) => originMs - performance.timeOrigin + elapsedS * 1000;
  return {
    rate: Number.isFinite(steady.rate) ? steady.rate : result.messages.receivedPerSecond,
    cpuPercent: sampler.cpuPercent(onOurClock(steady.fromS), onOurClock(steady.toS)),
    p50: result.latencyMs.p50,
    p99: result.latencyMs.p99,
    what: 'round trip per message, from its (intended) send time',
  };
}

/** The artillery report's aggregate: counters, summaries (ms) and the epoch ms of its first and last metric. */
interface ArtilleryAggregate {
  counters: Record<string, number>;
  summaries: Record<string, { p50: number; p99: number }>;
  firstMetricAt: number;
  lastMetricAt: number;
}

/** `users`: closed loop with that many virtual users pinging until the end; undefined: the fixed rate. */
async function runArtillery(bin: string, url: string, users: number | undefined): Promise<ToolRun> {
  const closedLoop = users !== undefined;
  const dir = mkdtempSync(join(tmpdir(), 'load-tools-'));
  try {
    const send = (indent: string) => [`- send:`, `    payload: '${MESSAGE}'`, '    match:', '      json: "$.a"', '      value: 1']
      .map((line) => `${indent}${line}\n`).join('');
    // Closed loop: every virtual user pings until the deadline (a processor function, artillery's
    // own extension point); fixed rate: R new users a second, each one message.
    const script = `config:\n  target: "${url}"\n` + (closedLoop
      ? `  processor: "./deadline.cjs"\n  phases:\n    - duration: 1\n      arrivalCount: ${users}\n` +
        `scenarios:\n  - engine: ws\n    flow:\n      - loop:\n${send('          ')}        whileTrue: beforeDeadline\n`
      : `  phases:\n    - duration: ${durationS}\n      arrivalRate: ${fixedRate}\n` +
        `scenarios:\n  - engine: ws\n    flow:\n${send('      ')}`);
    writeFileSync(join(dir, 'script.yml'), script);
    writeFileSync(join(dir, 'deadline.cjs'), 'let deadline;\nmodule.exports = {\n  beforeDeadline(context, next) {\n' +
      '    deadline ??= Date.now() + Number(process.env.LOAD_TOOLS_SECONDS) * 1000;\n    return next(Date.now() < deadline);\n  },\n};\n');
    const proc: Pinned = spawnPinned(TOOL_CPUS, bin, ['run', '--quiet', '--output', join(dir, 'report.json'), join(dir, 'script.yml')],
      { LOAD_TOOLS_SECONDS: String(durationS), ARTILLERY_DISABLE_TELEMETRY: 'true' }, dir);
    const sampler = new ProcSampler(proc.pid);
    await proc.exited;
    sampler.stop();
    if (!existsSync(join(dir, 'report.json'))) return failed(`artillery: ${proc.stderrTail()}`);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { aggregate: ArtilleryAggregate };
    const { counters, summaries, firstMetricAt, lastMetricAt } = report.aggregate;
    const seconds = (lastMetricAt - firstMetricAt) / 1000;
    const session = summaries['vusers.session_length'];
    const failedUsers = counters['vusers.failed'] ?? 0;
    const onOurClock = (epochMs: number) => epochMs - performance.timeOrigin;
    return {
      rate: (counters['websocket.messages_received'] ?? 0) / seconds,
      cpuPercent: sampler.cpuPercent(onOurClock(firstMetricAt), onOurClock(lastMetricAt)),
      p50: session?.p50 ?? NaN,
      p99: session?.p99 ?? NaN,
      what: 'vusers.session_length: connect + handshake + one round trip (its ws engine times no message)',
      error: failedUsers > 0 ? `${failedUsers} virtual users failed` : undefined,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function failed(error: string): ToolRun {
  return { rate: NaN, cpuPercent: NaN, p50: NaN, p99: NaN, what: '', error };
}

function ms(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(value >= 10 ? 1 : 3)} ms` : '–';
}

installCleanup();
const artillery = findArtillery();
const missing = `artillery not found: \`npm install --no-save artillery@${ARTILLERY_VERSION}\`, or ARTILLERY=/path/to/bin/artillery`;
const started = new Date();
const maxOurs = await withServer((url) => runOurs(url, ['--in-flight', '1']));
const maxArtillery = artillery === undefined ? failed(missing) : await withServer((url) => runArtillery(artillery, url, CONNECTIONS));
const mostOurs = await withServer((url) => runOurs(url, ['--in-flight', String(PIPELINE)]));
const mostArtillery = artillery === undefined ? failed(missing) : await withServer((url) => runArtillery(artillery, url, MANY_USERS));
const fixedOurs = await withServer((url) => runOurs(url, ['--rate', String(fixedRate)]));
const fixedArtillery = artillery === undefined ? failed(missing) : await withServer((url) => runArtillery(artillery, url, undefined));

const lines = [
  '# Load tools side by side: wasmsocket load and artillery', '',
  `- Server: \`wasmsocket serve --app echo --codec wasm --workers 0\` on core ${SERVER_CPUS}; each tool on core ${TOOL_CPUS} (\`taskset\`), one after the other, a fresh server for each run. ${durationS} s per run, ${MESSAGE.length} B JSON text messages.`,
  `- Same shape: ${CONNECTIONS} connections, one message in flight each (\`wasmsocket load --scenario echo --connections ${CONNECTIONS} --in-flight 1\`; artillery: ${CONNECTIONS} virtual users, each looping \`send\` + \`match\` until the end). Tool CPU near 100%: the tool was the limit.`,
  `- Most each drives: \`wasmsocket load --in-flight ${PIPELINE}\` over the same ${CONNECTIONS} connections; artillery with ${MANY_USERS} virtual users (it cannot pipeline).`,
  `- Fixed rate: ${fixedRate} messages/s (\`wasmsocket load --rate ${fixedRate}\` over ${CONNECTIONS} connections; artillery \`arrivalRate: ${fixedRate}\`, one message per virtual user, which is how artillery sets a rate).`,
  `- Generated ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC; artillery ${artillery === undefined ? 'not installed' : artillery.replace(`${ROOT}/`, '')}. Command: \`npm run bench:load-tools\`.`, '',
  '| | wasmsocket load | artillery |', '|---|---:|---:|',
  `| ${CONNECTIONS} connections × 1 in flight, round trips/s | ${count(maxOurs.rate)} | ${count(maxArtillery.rate)} |`,
  `| tool CPU at that rate (% of its core) | ${percent(maxOurs.cpuPercent)} | ${percent(maxArtillery.cpuPercent)} |`,
  `| most it drives (${PIPELINE} in flight · ${MANY_USERS} users), round trips/s | ${count(mostOurs.rate)} | ${count(mostArtillery.rate)} |`,
  `| tool CPU at that rate | ${percent(mostOurs.cpuPercent)} | ${percent(mostArtillery.cpuPercent)} |`,
  `| at ${fixedRate}/s: p50 | ${ms(fixedOurs.p50)} | ${ms(fixedArtillery.p50)} |`,
  `| at ${fixedRate}/s: p99 | ${ms(fixedOurs.p99)} | ${ms(fixedArtillery.p99)} |`,
  `| at ${fixedRate}/s: achieved rate | ${count(fixedOurs.rate)} | ${count(fixedArtillery.rate)} |`,
  `| at ${fixedRate}/s: what the latency is | ${fixedOurs.what} | ${fixedArtillery.what} |`, '',
];
const errors = [maxOurs, maxArtillery, mostOurs, mostArtillery, fixedOurs, fixedArtillery].map((run) => run.error).filter((error) => error !== undefined);
for (const error of new Set(errors)) lines.push(`- ${error}`);
const markdown = `${lines.join('\n')}\n`;
writeFileSync(join(ROOT, 'bench', 'results', 'load-tools.md'), markdown);
process.stdout.write(markdown);
process.stderr.write('bench: wrote bench/results/load-tools.md\n');
