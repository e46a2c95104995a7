/**
 * One measurement: start the server pinned to its cores, wait for its port, let it settle, run
 * the load generator pinned to its cores, sample both processes from /proc, stop the server.
 * Never throws: whatever goes wrong becomes `sample.error`, so the table shows it.
 */
import { join } from 'node:path';
import type { LoadResult, Progress } from '../../src/load/run.js';
import { freePort, spawnPinned, stopProcess, waitForPort, type Pinned } from './processes.js';
import { ProcSampler } from './sampler.js';
import { describeErrors, type RunSample, type Scenario } from './scenarios.js';
import { ROOT, type ServerSpec } from './servers.js';

const HOST = '127.0.0.1';
const LOAD_DRIVER = join(ROOT, 'dist', 'bench', 'e2e', 'load-driver.js');
/** Idle time between "port open" and the load: start-up work and GC settle, RSS baseline taken after. */
const SETTLE_MS = 500;
/** Past the duration: connecting, draining (≤ 2 s), closing (≤ 3 s) and reporting, generously. */
const LOAD_GRACE_S = 45;
/** A client on its core above this is probably the bottleneck. */
export const CLIENT_BOUND_PERCENT = 90;

export interface Placement {
  serverCpus: string;
  loadCpus: string;
  serverEnv: Record<string, string>;
}

export async function measure(server: ServerSpec, scenario: Scenario, placement: Placement, repetition: number, sequence: number): Promise<RunSample> {
  const sample: RunSample = {
    scenario: scenario.id, server: server.id, repetition, sequence, startedAt: new Date().toISOString(), notes: [],
    serverCommand: '', loadCommand: '', steadyRate: NaN, steadyWindowS: 0,
    serverCpuPercent: NaN, loadCpuPercent: NaN, serverWaitPercent: NaN, rssBeforeKiB: NaN, rssHeldKiB: NaN, rssPeakKiB: NaN, wallS: 0,
  };
  const wallStart = performance.now();
  let serverProc: Pinned | undefined;
  let loadProc: Pinned | undefined;
  let serverSampler: ProcSampler | undefined;
  let loadSampler: ProcSampler | undefined;
  try {
    if (server.unavailable !== undefined) throw new Error(server.unavailable);
    const port = await freePort();
    const serverArgs = server.args(scenario.app, HOST, port);
    if (serverArgs === undefined) throw new Error(`${server.label} has no "${scenario.app}" app`);
    sample.serverCommand = `taskset -c ${placement.serverCpus} node ${serverArgs.map((a) => a.replace(`${ROOT}/`, '')).join(' ')}`;
    serverProc = spawnPinned(placement.serverCpus, process.execPath, serverArgs, placement.serverEnv, ROOT);
    try {
      await waitForPort(serverProc, HOST, port);
    } catch (error) {
      throw new Error(`server did not start: ${(error as Error).message}`);
    }
    serverSampler = new ProcSampler(serverProc.pid);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    sample.rssBeforeKiB = serverSampler.sample()?.rssKiB ?? NaN;

    const loadArgs = [`ws://${HOST}:${port}/`, ...scenario.loadArgs, '--duration', String(scenario.durationS)];
    sample.loadCommand = `taskset -c ${placement.loadCpus} node dist/src/cli.js load ${loadArgs.join(' ')} --json`;
    const loadStart = performance.now();
    loadProc = spawnPinned(placement.loadCpus, process.execPath, [LOAD_DRIVER, ...loadArgs], {}, ROOT);
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
    const steadyFrom = loadStart + 1000;
    const steadyTo = loadStart + scenario.durationS * 1000;
    sample.serverCpuPercent = serverSampler.cpuPercent(steadyFrom, steadyTo);
    sample.loadCpuPercent = loadSampler.cpuPercent(steadyFrom, steadyTo);
    sample.serverWaitPercent = serverSampler.waitPercent(steadyFrom, steadyTo);
    sample.rssHeldKiB = serverSampler.rssAt(steadyTo);
    sample.rssPeakKiB = serverSampler.peakRss(loadStart, performance.now());
    if (signal === 'SIGKILL') throw new Error(`load generator did not finish within ${scenario.durationS + LOAD_GRACE_S} s`);
    const output = parseOutput(loadProc.stdout());
    if (output === undefined) throw new Error(`load generator exit ${signal ?? code} without a result${loadProc.stderrTail() === '' ? '' : `: ${loadProc.stderrTail()}`}`);
    sample.result = output.result;
    sample.progress = output.progress;
    const steady = steadyWindow(output.progress, scenario.warmupS, scenario.durationS);
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
  } catch (error) {
    sample.error = (error as Error).message.replace(/\s+/g, ' ').slice(0, 300);
  } finally {
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

function parseOutput(stdout: string): { result: LoadResult; progress: Progress[] } | undefined {
  const line = stdout.trim().split('\n').reverse().find((text) => text.startsWith('{'));
  if (line === undefined) return undefined;
  try {
    return JSON.parse(line) as { result: LoadResult; progress: Progress[] };
  } catch {
    return undefined;
  }
}

/**
 * The mean received/s over the progress intervals that lie inside the steady part of the run:
 * starting after the warm-up (connections opening) and ending by the duration (after it the
 * generator drains and closes). Each progress sample covers the time since the previous one.
 */
export function steadyWindow(progress: readonly Progress[], warmupS: number, durationS: number): { rate: number; seconds: number } {
  let received = 0, seconds = 0, previous = 0;
  for (const sample of progress) {
    const span = sample.elapsedS - previous;
    // 0.15 s of slack at the end: the duration counts from when the shards run, a little after elapsed 0.
    if (previous >= warmupS && sample.elapsedS <= durationS + 0.15) {
      received += sample.receivedPerSecond * span;
      seconds += span;
    }
    previous = sample.elapsedS;
  }
  return { rate: seconds > 0 ? received / seconds : NaN, seconds };
}
