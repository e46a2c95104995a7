/**
 * The server of a benchmark driven by a generator on another core (bench:load, bench:reference):
 * one server process on core 0, sampled from /proc while a generator on core 1 runs against it,
 * and what one generator's run gave.
 */
import { freePort, spawnPinned, waitForPort, type Pinned } from '../e2e/processes.js';
import { ProcSampler } from '../e2e/sampler.js';
import { ROOT, type AppKind, type ServerSpec } from '../e2e/servers.js';

export const HOST = '127.0.0.1';
export const SERVER_CPU = '0';
export const GENERATOR_CPU = '1';
/** Idle time between "port open" and the first generator: start-up work and GC settle. */
const SETTLE_MS = 500;

/** One generator's run against one server: its rate, its CPU, the server's CPU meanwhile. */
export interface GeneratorSample {
  rate: number;
  /** The generator's busiest thread (the load tool runs one; the reference is one). */
  cpuPercent: number;
  serverCpuPercent: number;
  /** % of the window the server's threads waited for a core that other work held (when measured). */
  serverWaitPercent?: number;
  error?: string;
}

export interface PinnedServer {
  proc: Pinned;
  port: number;
  sampler: ProcSampler;
}

/** Starts `server` with `app` on SERVER_CPU, waits for its port and lets it settle; throws why it could not. */
export async function startPinnedServer(server: ServerSpec, app: AppKind): Promise<PinnedServer> {
  if (server.unavailable !== undefined) throw new Error(server.unavailable);
  const port = await freePort();
  const args = server.args(app, HOST, port);
  if (args === undefined) throw new Error(`${server.label} has no ${app} app`);
  const proc = spawnPinned(SERVER_CPU, server.node, args, server.env ?? {}, ROOT);
  await waitForPort(proc, HOST, port);
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  return { proc, port, sampler: new ProcSampler(proc.pid) };
}

export function failedSample(error: string): GeneratorSample {
  return { rate: NaN, cpuPercent: NaN, serverCpuPercent: NaN, error: error.replace(/\s+/g, ' ').slice(0, 240) };
}
