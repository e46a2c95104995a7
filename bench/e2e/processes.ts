/**
 * Child processes of a benchmark run: started pinned with `taskset`, tracked until they exit,
 * and all killed when the harness ends for any reason (normal end, exception, SIGINT/SIGTERM).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { once } from 'node:events';

export interface Pinned {
  child: ChildProcess;
  pid: number;
  /** The last few kB of stderr, for error reports. */
  stderrTail(): string;
  stdout(): string;
  /** Settles when the process exits: its exit code, or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
}

const live = new Set<ChildProcess>();
const TAIL_BYTES = 4096;

/** Starts `node <args>` (or any command) pinned to `cpus` (e.g. "0", "0,1"); taskset execs, so the pid is the program's. */
export function spawnPinned(cpus: string, command: string, args: string[], env: Record<string, string> = {}, cwd?: string): Pinned {
  const child = spawn('taskset', ['-c', cpus, command, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk; });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { err = (err + chunk).slice(-TAIL_BYTES); });
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      live.delete(child);
      resolve({ code, signal });
    });
    child.once('error', (error) => {
      done = true;
      live.delete(child);
      err += `\nspawn failed: ${error.message}`;
      resolve({ code: -1, signal: null });
    });
  });
  return {
    child,
    pid: child.pid ?? -1,
    stderrTail: () => {
      // A Node crash prints the stack first and the version last: the line naming the error says most.
      const lines = err.trim().split('\n').map((line) => line.trim()).filter((line) => line !== '');
      const error = lines.find((line) => /\b\w*Error\b/.test(line));
      return error !== undefined ? error : lines.slice(-3).join(' | ');
    },
    stdout: () => out,
    exited,
    hasExited: () => done,
  };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(proc: Pinned, graceMs = 3000): Promise<void> {
  if (proc.hasExited()) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}

let installed = false;
/** Kills every child on exit and on SIGINT/SIGTERM (then exits 130/143). Idempotent. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping every server and load generator\n`);
      killAll();
      process.exit(code);
    });
  }
}

/** Resolves once a TCP connect to host:port succeeds; rejects on timeout or when the process exits first. */
export async function waitForPort(proc: Pinned, host: string, port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.hasExited()) {
      const { code, signal } = await proc.exited;
      throw new Error(`exited before listening (${signal ?? `code ${code}`})${proc.stderrTail() === '' ? '' : `: ${proc.stderrTail()}`}`);
    }
    if (await canConnect(host, port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`not listening on ${host}:${port} after ${timeoutMs / 1000} s${proc.stderrTail() === '' ? '' : `: ${proc.stderrTail()}`}`);
}

async function canConnect(host: string, port: number): Promise<boolean> {
  const socket = connect({ host, port });
  try {
    await once(socket, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

/** A port that was free a moment ago (the server binds it right after; each run gets a new one). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}
