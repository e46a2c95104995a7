/**
 * One measurement: start the server on its Node, pinned to its cores (the scenario's pinning, else
 * the suite's), wait for its port, let it settle, run the load generator pinned to its cores,
 * sample both processes from /proc, stop the server.
 * Never throws: whatever goes wrong becomes `sample.error`, so the table shows it.
 */
import { join } from 'node:path';
import type { LoadResult, Progress } from '../../src/load/run.js';
import { benchCertificate } from './certificate.js';
import { shownPath } from './node-binaries.js';
import { freePort, spawnPinned, stopProcess, waitForPort, type Pinned } from './processes.js';
import { ProcSampler } from './sampler.js';
import { describeErrors, type Pinning, type RunSample, type Scenario } from './scenarios.js';
import { ROOT, type ServerSpec } from './servers.js';

const HOST = '127.0.0.1';
const LOAD_DRIVER = join(ROOT, 'dist', 'bench', 'e2e', 'load-driver.js');
/** Idle time between "port open" and the load: start-up work and GC settle, RSS baseline taken after. */
const SETTLE_MS = 500;
/** Past the duration: connecting, draining (≤ 2 s), closing (≤ 3 s) and reporting, generously. */
const LOAD_GRACE_S = 45;
/** A client on its core above this is probably the bottleneck. */
export const CLIENT_BOUND_PERCENT = 90;
/** How the method text of every suite says it. */
export const CLIENT_BOUND_METHOD = `a cell where the load generator's busiest thread was over ${CLIENT_BOUND_PERCENT}% of its core is marked **client-bound**: ` +
  'the generator, not the server, set the pace there, and "per server CPU-s" estimates the server\'s own capacity.';

export interface Placement extends Pinning {
  serverEnv: Record<string, string>;
}

export async function measure(server: ServerSpec, scenario: Scenario, placement: Placement, repetition: number, sequence: number): Promise<RunSample> {
  const sample: RunSample = {
    scenario: scenario.id, server: server.id, repetition, sequence, startedAt: new Date().toISOString(), notes: [],
    serverCommand: '', loadCommand: '', steadyRate: NaN, steadyWindowS: 0,
    serverCpuPercent: NaN, loadCpuPercent: NaN, loadBusiestThreadPercent: NaN, serverWaitPercent: NaN, rssBeforeKiB: NaN, rssHeldKiB: NaN, rssPeakKiB: NaN, wallS: 0,
  };
  const wallStart = performance.now();
  const cpus = scenario.pinning ?? placement;
  let serverProc: Pinned | undefined;
  let loadProc: Pinned | undefined;
  let serverSampler: ProcSampler | undefined;
  let loadSampler: ProcSampler | undefined;
  let stopSidecar: (() => Promise<void>) | undefined;
  try {
    if (server.unavailable !== undefined) throw new Error(server.unavailable);
    const port = await freePort();
    const variant = { deflate: scenario.deflate === true, tls: scenario.tls === true ? benchCertificate() : undefined };
    const serverArgs = server.args(scenario.app, HOST, port, variant);
    if (serverArgs === undefined) throw new Error(`${server.label} has no "${scenario.app}" app`);
    const env = { ...server.env, ...placement.serverEnv };
    const shownEnv = Object.entries(server.env ?? {}).map(([name, value]) => `${name}=${value} `).join('');
    sample.serverCommand = `${shownEnv}taskset -c ${cpus.serverCpus} ${shownPath(server.node, ROOT)} ${serverArgs.map((a) => a.replace(`${ROOT}/`, '')).join(' ')}`;
    serverProc = spawnPinned(cpus.serverCpus, server.node, serverArgs, env, ROOT);
    try {
      await waitForPort(serverProc, HOST, port);
    } catch (error) {
      throw new Error(`server did not start: ${(error as Error).message}`);
    }
    serverSampler = new ProcSampler(serverProc.pid);
    const started = serverProc;
    stopSidecar = await server.sidecar?.({ host: HOST, port, stdout: () => started.stdout() });
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    sample.rssBeforeKiB = serverSampler.sample()?.rssKiB ?? NaN;

    const loadArgs = scenario.tls === true ? [`wss://${HOST}:${port}/`, '--insecure'] : [`ws://${HOST}:${port}/`];
    loadArgs.push(...scenario.loadArgs, '--duration', String(scenario.durationS));
    sample.loadCommand = `taskset -c ${cpus.loadCpus} ${shownPath(process.execPath, ROOT)} dist/src/cli.js load ${loadArgs.join(' ')} --json`;
    const loadStart = performance.now();
    loadProc = spawnPinned(cpus.loadCpus, process.execPath, [LOAD_DRIVER, ...loadArgs], {}, ROOT);
    loadSampler = new ProcSampler(loadProc.pid);
    const timeout = setTimeout(() => loadProc!.child.kill('SIGKILL'), (scenario.durationS + LOAD_GRACE_S) * 1000);
    const serverDied = serverProc.exited.then(() => 'server');
    const winner = await Promise.race([loadProc.exited.then(() => 'load'), serverDied]);
    clearTimeout(timeout);
    if (winner === 'server') {
      const { code, signal } = await serverProc.exited;
      throw new Error(`server exited during the run (${signal ?? `code ${code}`})${serverProc.stderrTail() === '' ? '' : `: ${serverProc.stderrTail()}`}`);
    }
    const { code, signal } = await loadProc.exited;
    const output = parseOutput(loadProc.stdout());
    // The steady window on this process's clock: from the generator's progress when it reported, else guessed from the start.
    const steady = output === undefined ? undefined : steadyWindow(output.progress, scenario.durationS, output.result.connect.rampS);
    const onOurClock = (elapsedS: number) => output!.originMs - performance.timeOrigin + elapsedS * 1000;
    const steadyFrom = steady === undefined ? loadStart + 1000 : onOurClock(steady.fromS);
    const steadyTo = steady === undefined ? loadStart + scenario.durationS * 1000 : onOurClock(steady.toS);
    sample.serverCpuPercent = serverSampler.cpuPercent(steadyFrom, steadyTo);
    sample.loadCpuPercent = loadSampler.cpuPercent(steadyFrom, steadyTo);
    sample.loadBusiestThreadPercent = reportedBusiestThread(output?.result) ?? loadSampler.busiestThreadPercent(steadyFrom, steadyTo);
    sample.serverWaitPercent = serverSampler.waitPercent(steadyFrom, steadyTo);
    sample.rssHeldKiB = serverSampler.rssAt(steadyTo);
    sample.rssPeakKiB = serverSampler.peakRss(loadStart, performance.now());
    if (signal === 'SIGKILL') throw new Error(`load generator did not finish within ${scenario.durationS + LOAD_GRACE_S} s`);
    if (output === undefined || steady === undefined) throw new Error(`load generator exit ${signal ?? code} without a result${loadProc.stderrTail() === '' ? '' : `: ${loadProc.stderrTail()}`}`);
    sample.result = output.result;
    sample.progress = output.progress;
    sample.steadyRate = steady.rate;
    sample.steadyWindowS = steady.seconds;
    if (!Number.isFinite(steady.rate) && output.result.messages.received > 0) {
      // Progress samples came late (a saturated client): fall back to the CLI's whole-run average.
      sample.steadyRate = output.result.messages.receivedPerSecond;
      sample.notes.push('no progress sample inside the steady window: the whole-run average of `wasmsocket load` is used');
    }
    if (output.result.errorCount > 0) sample.notes.push(`client errors: ${describeErrors(output.result)}`);
    for (const line of [...output.result.limits, ...output.result.warnings]) sample.notes.push(line);
    if (!output.result.ok) throw new Error(`nothing succeeded (${describeErrors(output.result) || 'no error counted'})`);
    // A compressed row measured without compression would be a wrong number, not a slow one.
    if (scenario.deflate === true && output.result.deflate.declined > 0) {
      throw new Error(`the server declined permessage-deflate on ${output.result.deflate.declined} of ${output.result.connect.opened} connections`);
    }
  } catch (error) {
    sample.error = (error as Error).message.replace(/\s+/g, ' ').slice(0, 300);
  } finally {
    await stopSidecar?.().catch((error: Error) => { sample.error ??= `sidecar: ${error.message}`; });
    serverSampler?.stop();
    loadSampler?.stop();
    if (loadProc !== undefined) await stopProcess(loadProc, 1000);
    if (serverProc !== undefined) {
      await stopProcess(serverProc, 3000);
      const stderr = serverProc.stderrTail();
      if (stderr !== '' && sample.error === undefined && /error|exception|fatal/i.test(stderr)) sample.notes.push(`server stderr: ${stderr.slice(0, 200)}`);
    }
    sample.wallS = (performance.now() - wallStart) / 1000;
  }
  return sample;
}

/** The generator's own busiest-thread CPU, when its result reports CPU per thread. */
function reportedBusiestThread(result: LoadResult | undefined): number | undefined {
  const threads = (result as { generator?: { threads?: Array<{ cpuPercent?: unknown }> } } | undefined)?.generator?.threads;
  if (!Array.isArray(threads) || threads.length === 0) return undefined;
  const percents = threads.map((thread) => thread.cpuPercent).filter((value): value is number => typeof value === 'number' && Number.isFinite(value));
  return percents.length === 0 ? undefined : Math.max(...percents);
}

/** The load driver's line: the result, the progress samples, and when its clock (elapsedS 0) started. */
interface DriverOutput {
  result: LoadResult;
  progress: Progress[];
  /** performance.timeOrigin + performance.now() in the driver as runLoad() started (epoch ms). */
  originMs: number;
}

function parseOutput(stdout: string): DriverOutput | undefined {
  const line = stdout.trim().split('\n').reverse().find((text) => text.startsWith('{'));
  if (line === undefined) return undefined;
  try {
    return JSON.parse(line) as DriverOutput;
  } catch {
    return undefined;
  }
}

/** How the method text of every suite names the window the rates and CPU figures come from. */
export const STEADY_WINDOW = 'the steady window: the whole once-a-second progress intervals from the first sample that finds every connection open to the end of the duration (which `wasmsocket load` counts from then), so neither the ramp nor the drain';

/** `wasmsocket load` starts the traffic this long after every connection is ready (src/load/run.ts GO_DELAY_MS). */
const GO_DELAY_S = 0.2;

/**
 * The steady part of a run, from its progress samples (one a second, each covering the time
 * since the previous one), and the mean received/s over the whole intervals inside it.
 * `wasmsocket load` sends from `go`, 0.2 s after every connection is ready, for the duration,
 * then drains and closes. The first sample that finds every connection open is at most 0.2 s
 * before go (its interval is the warm-up). Every connection was open no earlier than the sample
 * before that one, nor than `rampS` (first connect to last open, timed from a shard's start, which
 * is after elapsed 0), so the traffic lasts at least until the later of the two + 0.2 s + the
 * duration. The window runs between those two moments: only traffic, never the ramp or the drain.
 */
export function steadyWindow(progress: readonly Progress[], durationS: number, rampS: number): { fromS: number; toS: number; rate: number; seconds: number } {
  const mostOpen = Math.max(0, ...progress.map((sample) => sample.open));
  const firstAllOpen = progress.findIndex((sample) => sample.open === mostOpen);
  const fromS = firstAllOpen < 0 ? 0 : progress[firstAllOpen].elapsedS;
  const allOpenAfterS = Math.max(firstAllOpen > 0 ? progress[firstAllOpen - 1].elapsedS : 0, rampS);
  const toS = allOpenAfterS + GO_DELAY_S + durationS;
  let received = 0, seconds = 0, previous = 0;
  for (const sample of progress) {
    const span = sample.elapsedS - previous;
    if (previous >= fromS && sample.elapsedS <= toS) {
      received += sample.receivedPerSecond * span;
      seconds += span;
    }
    previous = sample.elapsedS;
  }
  return { fromS, toS, rate: seconds > 0 ? received / seconds : NaN, seconds };
}
