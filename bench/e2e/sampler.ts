/**
 * Samples a process's CPU time (utime + stime of all its threads, /proc/<pid>/stat), the time its
 * threads were runnable but waited for a CPU (/proc/<pid>/task/<tid>/schedstat, second field:
 * on a shared machine, the share other work took from it), each thread's CPU time
 * (/proc/<pid>/task/<tid>/stat: the busiest thread of a load generator tells whether it was the
 * limit) and its resident memory (VmRSS,
 * /proc/<pid>/status) every `intervalMs`, so a run can ask afterwards for the CPU use over any
 * window and the RSS at any moment.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcSample {
  /** performance.now() of the read. */
  at: number;
  /** CPU seconds so far (user + system, all threads). */
  cpuS: number;
  /** Seconds its threads spent runnable, waiting for a CPU, so far (threads alive now). */
  waitS: number;
  /** CPU seconds so far per thread id (threads alive now). */
  threadCpuS: Map<string, number>;
  rssKiB: number;
}

let ticksPerSecond = 0;
function clockTicks(): number {
  if (ticksPerSecond === 0) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

export function readProc(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces: the fields after it start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]), stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    const tasks = readTasks(pid);
    return { at: performance.now(), cpuS: (utime + stime) / clockTicks(), waitS: tasks.waitS, threadCpuS: tasks.cpuS, rssKiB: rss === null ? 0 : Number(rss[1]) };
  } catch {
    return undefined; // the process is gone
  }
}

function readTasks(pid: number): { waitS: number; cpuS: Map<string, number> } {
  let ns = 0;
  const cpuS = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1]) || 0;
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        cpuS.set(tid, (Number(fields[11]) + Number(fields[12])) / clockTicks());
      } catch {
        // the thread ended between the listing and the read
      }
    }
  } catch {
    return { waitS: NaN, cpuS };
  }
  return { waitS: ns / 1e9, cpuS };
}

export class ProcSampler {
  readonly samples: ProcSample[] = [];
  readonly #timer: NodeJS.Timeout;

  constructor(readonly pid: number, intervalMs = 100) {
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): ProcSample | undefined {
    const sample = readProc(this.pid);
    if (sample !== undefined) this.samples.push(sample);
    return sample;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** CPU use in % of one core between two moments (nearest samples inside the window); NaN without two samples. */
  cpuPercent(from: number, to: number): number {
    const inside = this.samples.filter((s) => s.at >= from && s.at <= to);
    if (inside.length < 2) return NaN;
    const first = inside[0], last = inside[inside.length - 1];
    if (last.at - first.at < 200) return NaN;
    return (100 * (last.cpuS - first.cpuS) * 1000) / (last.at - first.at);
  }

  /** CPU use of the busiest thread in % of one core over the window (threads alive at both ends); NaN without two samples. */
  busiestThreadPercent(from: number, to: number): number {
    const inside = this.samples.filter((s) => s.at >= from && s.at <= to);
    if (inside.length < 2) return NaN;
    const first = inside[0], last = inside[inside.length - 1];
    if (last.at - first.at < 200) return NaN;
    let busiest = 0;
    for (const [tid, cpuS] of last.threadCpuS) {
      const before = first.threadCpuS.get(tid);
      if (before !== undefined) busiest = Math.max(busiest, (100 * (cpuS - before) * 1000) / (last.at - first.at));
    }
    return busiest;
  }

  /** Time spent waiting for a CPU in % of the window (NaN without two samples). */
  waitPercent(from: number, to: number): number {
    const inside = this.samples.filter((s) => s.at >= from && s.at <= to);
    if (inside.length < 2) return NaN;
    const first = inside[0], last = inside[inside.length - 1];
    if (last.at - first.at < 200) return NaN;
    return (100 * Math.max(0, last.waitS - first.waitS) * 1000) / (last.at - first.at);
  }

  /** RSS of the last sample taken at or before `at`. */
  rssAt(at: number): number {
    let value = NaN;
    for (const s of this.samples) {
      if (s.at > at) break;
      value = s.rssKiB;
    }
    return value;
  }

  peakRss(from: number, to: number): number {
    let peak = NaN;
    for (const s of this.samples) if (s.at >= from && s.at <= to && !(s.rssKiB <= peak)) peak = s.rssKiB;
    return peak;
  }
}
