/**
 * `wasmsocket serve` started the way an operator starts it (`npm start`, `npx wasmsocket serve`,
 * the installed command), and stopped by a signal sent to one of the processes its launcher made.
 */
import type { ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname } from 'node:path';
import WebSocket from 'ws';
import { waitFor } from './wait.js';

/** Generous on a loaded 2-core machine: npm itself takes seconds to start there. */
const START_TIMEOUT_MS = 60_000;
/** Clients answer the close at once; the bound only keeps a broken shutdown from hanging the test. */
const STOP_TIMEOUT_MS = 30_000;

export interface LaunchedServer {
  /** The process the test started: npm, or the command itself. */
  launcher: ChildProcess;
  /** The launcher and its descendants once the server listens (npm, `sh -c`, node). */
  pids: number[];
  port: number;
  /** Everything the processes wrote to stdout and stderr so far. */
  output(): string;
  /** The launcher's exit. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** stdout's end: every process that held it (the server too) has exited. */
  ended: Promise<void>;
}

/** A port nothing listens on now (the kernel's choice, then released). */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * An environment without npm's variables from the test run (as an operator's shell has), with
 * the test's own Node first on the PATH so that `node` and `#!/usr/bin/env node` find it.
 */
export function operatorEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  return { ...env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
}

/**
 * Starts `command args` in `cwd` and waits for its "listening on ws[s]://…:PORT/" line.
 * `detached`: in a process group of its own, as a terminal runs a foreground job (Ctrl-C sends
 * SIGINT to the whole group).
 */
export async function launch(t: ExecutionContext, command: string, args: string[], cwd: string,
  options: { env?: NodeJS.ProcessEnv; detached?: boolean } = {}): Promise<LaunchedServer> {
  const launcher = spawn(command, args, { cwd, env: { ...operatorEnv(), ...options.env }, detached: options.detached, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const ended = Promise.all([once(launcher.stdout!, 'end'), once(launcher.stderr!, 'end')]).then(() => undefined);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    launcher.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const pids = [launcher.pid!];
  t.teardown(() => {
    // A server that outlived a killed launcher is no longer its descendant: end every PID seen.
    for (const pid of new Set([...descendants(launcher.pid!), ...pids])) {
      if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    }
  });
  launcher.stdout!.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; });
  launcher.stderr!.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} ${args.join(' ')}: no "listening" line in ${START_TIMEOUT_MS} ms: ${text}`)), START_TIMEOUT_MS);
    const check = () => {
      const match = /listening on wss?:\/\/[^\s/]+:(\d+)\//.exec(text);
      if (match) { clearTimeout(timer); resolve(Number(match[1])); }
    };
    launcher.stdout!.on('data', check);
    void exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`${command} exited ${code ?? signal}: ${text}`)); });
  });
  pids.push(...descendants(launcher.pid!));
  return { launcher, pids, port, output: () => text, exited, ended };
}

/** The PIDs of `pid`'s children (Linux: /proc/PID/task/TID/children, over all its threads). */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const list = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (list !== '') children.push(...list.split(' ').map(Number));
    }
  } catch { /* the process has exited */ }
  return children;
}

export function descendants(pid: number): number[] {
  return childrenOf(pid).flatMap((child) => [child, ...descendants(child)]);
}

/** False once `pid` has exited (a zombie not yet reaped counts as exited). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

/** The command line of `pid`, arguments joined by spaces. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** True when nothing accepts a TCP connection on 127.0.0.1:port. */
export function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(true));
  });
}

/**
 * Connects a client, sends `signal` to `pid` (a negative pid: to that process group), and checks what an operator expects: the client gets
 * 1001, the port is freed, every process of the launch ends, and the server said why it stopped.
 */
export async function stopsCleanly(t: ExecutionContext, server: LaunchedServer, pid: number, signal: NodeJS.Signals, scheme = 'ws'): Promise<void> {
  const ws = new WebSocket(`${scheme}://127.0.0.1:${server.port}/`, { rejectUnauthorized: false });
  await once(ws, 'open');
  const closeCode = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  process.kill(pid, signal);
  t.is(await closeCode, 1001, 'the connected client is closed with 1001 (going away)');
  await waitFor(() => portRefuses(server.port), STOP_TIMEOUT_MS, 100);
  t.true(await portRefuses(server.port), `port ${server.port} is freed`);
  await Promise.race([server.ended, new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS))]);
  t.regex(server.output(), / info shutting_down: .+, closing connections with 1001\n/);
  await waitFor(() => !server.pids.some(isRunning), STOP_TIMEOUT_MS, 100);
  t.deepEqual(server.pids.filter(isRunning).map(commandLine), [], 'no process of the launch is left');
}
