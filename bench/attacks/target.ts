/**
 * The server under attack: `wasmsocket serve` as a child process (the real CLI), its RSS sampled
 * from /proc every 50 ms, `/healthz` probed, and whether it is still up at the end.
 */
import { get } from 'node:http';
import { freePort, spawnPinned, stopProcess, waitForPort, type Pinned } from '../e2e/processes.js';
import { ProcSampler } from '../e2e/sampler.js';
import { CLI, CLI_ENV, CLI_NODE_FLAGS, ROOT } from '../e2e/servers.js';

export const HOST = '127.0.0.1';

export type Mode = 'inline' | 'w1' | 'w2';

export interface Target {
  port: number;
  proc: Pinned;
  sampler: ProcSampler;
  command: string;
}

/** Starts the server with `app` in `mode`, pinned to `cpus`, and waits until it listens and settles. */
export async function startTarget(app: 'echo' | 'pubsub', mode: Mode, cpus: string, extra: string[] = []): Promise<Target> {
  const port = await freePort();
  const workers = mode === 'inline' ? '0' : mode.slice(1);
  const args = [...CLI_NODE_FLAGS, CLI, 'serve', '--host', HOST, '--port', String(port), '--app', app, '--workers', workers, ...extra];
  const proc = spawnPinned(cpus, process.execPath, args, CLI_ENV, ROOT);
  await waitForPort(proc, HOST, port);
  const sampler = new ProcSampler(proc.pid, 50);
  // Start-up work and its garbage settle before the "before" RSS is read.
  await sleep(800);
  return { port, proc, sampler, command: `wasmsocket serve --app ${app} --workers ${workers}${extra.length > 0 ? ` ${extra.join(' ')}` : ''}` };
}

export async function stopTarget(target: Target): Promise<void> {
  target.sampler.stop();
  await stopProcess(target.proc, 3000);
}

export interface Health {
  /** HTTP status, or the error that stopped the probe (timeout, ECONNRESET…). */
  status: number | string;
  body: string;
}

/** GET /healthz with a deadline. */
export function probeHealth(port: number, timeoutMs = 5000): Promise<Health> {
  return new Promise((resolve) => {
    const request = get({ host: HOST, port, path: '/healthz', timeout: timeoutMs, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? error.message, body }));
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? error.message, body: '' }));
  });
}

/** Up: the process runs and /healthz answers 200. */
export async function isUp(target: Target): Promise<{ up: boolean; health: Health }> {
  if (target.proc.hasExited()) {
    const { code, signal } = await target.proc.exited;
    return { up: false, health: { status: `exited (${signal ?? `code ${code}`})`, body: target.proc.stderrTail().slice(-300) } };
  }
  const health = await probeHealth(target.port);
  return { up: health.status === 200, health };
}

/**
 * RSS once the attack's connections are gone: the lowest of the samples over `settleMs` (a
 * collected heap gives memory back in steps; the lowest is what the server holds, not its garbage).
 */
export async function settledRss(target: Target, settleMs: number): Promise<number> {
  const from = performance.now();
  await sleep(settleMs);
  let lowest = NaN;
  for (const sample of target.sampler.samples) if (sample.at >= from && !(sample.rssKiB >= lowest)) lowest = sample.rssKiB;
  return lowest;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
