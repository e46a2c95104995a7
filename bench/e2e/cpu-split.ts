/**
 * How a benchmark shares the machine's cores between the server and the load generator when
 * the server is to have as many as it can use (bench:scaling). Linux only, like the harness.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** "0-3,8,10-11" → [0, 1, 2, 3, 8, 10, 11] (the kernel's CPU-list format). */
export function parseCpuList(list: string): number[] {
  const cpus: number[] = [];
  for (const part of list.trim().split(',')) {
    if (part === '') continue;
    const [from, to = from] = part.split('-').map(Number);
    if (!Number.isInteger(from) || !Number.isInteger(to) || to < from) throw new TypeError(`not a CPU list: "${list}"`);
    for (let cpu = from; cpu <= to; cpu++) cpus.push(cpu);
  }
  return cpus;
}

/** [0, 1, 2, 3, 8] → "0-3,8": the form `taskset -c` takes and a reader can check. */
export function formatCpuList(cpus: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; i++) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j] + 1) j++;
    parts.push(j > i ? `${cpus[i]}-${cpus[j]}` : String(cpus[i]));
    i = j;
  }
  return parts.join(',');
}

/** The CPUs this process may run on: its affinity (a container or taskset may allow fewer than the machine has). */
export function allowedCpus(): number[] {
  try {
    const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (list !== undefined) return parseCpuList(list);
  } catch {
    // no /proc: fall through
  }
  return Array.from({ length: availableParallelism() }, (_, cpu) => cpu);
}

/**
 * The CPUs reordered so that hyperthreads of one physical core are adjacent (by the sysfs
 * thread_siblings_list), so that cutting the list in two gives each side whole cores rather than
 * a server and a client fighting over the same core's execution units.
 */
export function bySiblings(cpus: readonly number[]): number[] {
  const group = new Map<number, number>();
  for (const cpu of cpus) {
    let first = cpu;
    try {
      first = parseCpuList(readFileSync(`/sys/devices/system/cpu/cpu${cpu}/topology/thread_siblings_list`, 'utf8'))[0] ?? cpu;
    } catch {
      // no topology: every CPU its own core
    }
    group.set(cpu, first);
  }
  return [...cpus].sort((a, b) => group.get(a)! - group.get(b)! || a - b);
}

export interface CoreSplit {
  server: number[];
  load: number[];
  /** The load generator runs on one of the server's cores (machines with fewer than 3 CPUs). */
  shared: boolean;
}

/**
 * C CPUs: the load generator gets k = `loadCores` (default ⌊C/2⌋: the client spends about as
 * much CPU per message as the server, so any fewer and it, not the server, is the limit long
 * before the server's cores are busy) and the server the other C − k. With 2 CPUs or fewer
 * there is no such split: the server gets every CPU and the client shares the last one.
 */
export function splitCores(cpus: readonly number[], loadCores?: number): CoreSplit {
  if (cpus.length <= 2) return { server: [...cpus], load: [cpus[cpus.length - 1]], shared: true };
  const k = loadCores ?? Math.floor(cpus.length / 2);
  if (!Number.isInteger(k) || k < 1 || k >= cpus.length) throw new TypeError(`load cores must be 1-${cpus.length - 1}, got ${loadCores}`);
  return { server: cpus.slice(0, cpus.length - k), load: cpus.slice(cpus.length - k), shared: false };
}
