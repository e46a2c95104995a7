/**
 * The reference load generator (wsgen.c, a minimal epoll WebSocket client in C): compiled with gcc
 * on demand into dist/bench/reference/ (no binary is committed), and its command line built, its
 * one JSON line read and its run on the generator's core made here, so every benchmark runs it the same way.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnPinned } from '../e2e/processes.js';
import type { ProcSampler } from '../e2e/sampler.js';
import { ROOT } from '../e2e/servers.js';
import { failedSample, GENERATOR_CPU, type GeneratorSample } from './pinned-server.js';

export const WSGEN_SOURCE = join(ROOT, 'bench', 'reference', 'wsgen.c');
export const WSGEN_BINARY = join(ROOT, 'dist', 'bench', 'reference', 'wsgen');
/** Its warm-up before its measured window, like the load tool's ramp and go delay. */
export const WSGEN_WARMUP_S = 1;
/** Past the warm-up and the window: connecting, subscribing and closing, generously. */
const GRACE_S = 30;

export interface WsgenRun {
  mode: 'echo' | 'broadcast';
  port: number;
  host?: string;
  connections: number;
  inFlight: number;
  size: number;
  binary?: boolean;
  topic?: string;
  seconds: number;
  warmupS?: number;
}

/** The JSON line wsgen prints at the end: the measured window only (after its warm-up). */
export interface WsgenResult {
  mode: 'echo' | 'broadcast';
  connections: number;
  inFlight: number;
  size: number;
  binary: boolean;
  seconds: number;
  /** Round trips (echo) or deliveries (broadcast) in the window, each one checked. */
  count: number;
  perSecond: number;
  /** Its own CPU time per second of wall time: near 100 means the generator was the limit. */
  cpuPercent: number;
  published: number;
}

/**
 * Compiles wsgen.c when the binary is missing or older than its source; returns the binary's path.
 * Throws with gcc's own message when it cannot (no gcc: the benchmark says so).
 */
export function buildWsgen(): string {
  if (existsSync(WSGEN_BINARY) && statSync(WSGEN_BINARY).mtimeMs >= statSync(WSGEN_SOURCE).mtimeMs) return WSGEN_BINARY;
  mkdirSync(join(ROOT, 'dist', 'bench', 'reference'), { recursive: true });
  const gcc = spawnSync('gcc', ['-O2', '-Wall', '-o', WSGEN_BINARY, WSGEN_SOURCE], { encoding: 'utf8' });
  if (gcc.error !== undefined) throw new Error(`cannot compile the reference generator: gcc: ${gcc.error.message}`);
  if (gcc.status !== 0) throw new Error(`cannot compile the reference generator: ${gcc.stderr.trim()}`);
  return WSGEN_BINARY;
}

export function wsgenArgs(run: WsgenRun): string[] {
  return [
    '--mode', run.mode, '--host', run.host ?? '127.0.0.1', '--port', String(run.port),
    '--connections', String(run.connections), '--in-flight', String(run.inFlight), '--size', String(run.size),
    '--seconds', String(run.seconds), '--warmup', String(run.warmupS ?? 1),
    ...(run.binary === true ? ['--binary'] : []), ...(run.topic === undefined ? [] : ['--topic', run.topic]),
  ];
}

/** Reads wsgen's stdout; undefined when it printed no result (it failed: its stderr says why). */
export function parseWsgenOutput(stdout: string): WsgenResult | undefined {
  const line = stdout.trim().split('\n').pop();
  if (line === undefined || !line.startsWith('{')) return undefined;
  return JSON.parse(line) as WsgenResult;
}

/**
 * Runs wsgen on GENERATOR_CPU against a server whose process `server` samples: its rate and CPU
 * over its measured window, and the server's CPU (and wait for a core) over the same window.
 */
export async function runWsgen(binary: string, run: Omit<WsgenRun, 'warmupS'>, server: ProcSampler): Promise<GeneratorSample> {
  const startedAt = performance.now();
  const proc = spawnPinned(GENERATOR_CPU, binary, wsgenArgs({ ...run, warmupS: WSGEN_WARMUP_S }), {}, ROOT);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), (run.seconds + WSGEN_WARMUP_S + GRACE_S) * 1000);
  const { code, signal } = await proc.exited;
  clearTimeout(timer);
  const result = parseWsgenOutput(proc.stdout());
  if (result === undefined || code !== 0) return failedSample(`wsgen exit ${signal ?? code}: ${proc.stderrTail()}`);
  // Its window is the last `seconds` before it printed (connecting and warm-up come first).
  const endedAt = performance.now();
  const from = Math.max(startedAt, endedAt - result.seconds * 1000);
  return {
    rate: result.perSecond, cpuPercent: result.cpuPercent,
    serverCpuPercent: server.cpuPercent(from, endedAt), serverWaitPercent: server.waitPercent(from, endedAt),
  };
}
