/**
 * The harness the idle-memory measurements share: a server in a child process that reports its
 * own memory after a full collection, and the growth per connection while N clients sit idle.
 *
 * The child runs with --expose-gc, prints `port N` once it listens, and calls
 * answerMemorySamples(): every line on its stdin asks for one sample.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';

export interface MemorySample {
  /** Resident set size, from /proc/self/status. */
  rss: number;
  heapUsed: number;
  /** The V8 heap committed (process.memoryUsage().heapTotal). */
  heapTotal: number;
  external: number;
}

/** In the child: answers each line on stdin with a sample, taken after two full collections. */
export function answerMemorySamples(): void {
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', () => {
    const gc = (globalThis as { gc?: () => void }).gc!;
    gc();
    gc();
    const { heapUsed, heapTotal, external } = process.memoryUsage();
    const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
    console.log(JSON.stringify({ rss, heapUsed, heapTotal, external } satisfies MemorySample));
  });
}

/**
 * Runs `node ...nodeArgs` (the child), samples it, opens `connections` clients with `open`, 100
 * at a time, lets them settle idle, samples again, and returns each field's growth divided by
 * `connections`.
 */
export async function idleGrowthPerConnection(nodeArgs: string[], connections: number, open: (port: number) => Promise<Socket>): Promise<MemorySample> {
  const child = spawn(process.execPath, ['--expose-gc', ...nodeArgs], { stdio: ['pipe', 'pipe', 'inherit'] });
  const sample = async (): Promise<MemorySample> => {
    child.stdin.write('measure\n');
    const [line] = await once(child.stdout, 'data') as [Buffer];
    return JSON.parse(String(line)) as MemorySample;
  };
  try {
    const [line] = await once(child.stdout, 'data') as [Buffer];
    const port = Number(/port (\d+)/.exec(String(line))![1]);
    await settle(1000);
    const before = await sample();
    const sockets: Socket[] = [];
    for (let i = 0; i < connections; i += 100) {
      sockets.push(...await Promise.all(Array.from({ length: Math.min(100, connections - i) }, () => open(port))));
    }
    await settle(2000);
    const after = await sample();
    for (const socket of sockets) socket.destroy();
    const per = (key: keyof MemorySample) => (after[key] - before[key]) / connections;
    return { rss: per('rss'), heapUsed: per('heapUsed'), heapTotal: per('heapTotal'), external: per('external') };
  } finally {
    child.kill('SIGKILL');
  }
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
