/** The generator's own CPU, per thread, from the shards' snapshots; and the warning when it was the limit. */
import type { ShardSnapshot } from './stats.js';
import { GENERATOR_LIMIT_PERCENT } from './thread-cpu.js';

export interface GeneratorCpu {
  threads: Array<{ shard: number; cpuPercent: number }>;
  /** The busiest thread's cpuPercent. */
  busiest: number;
  /** busiest > GENERATOR_LIMIT_PERCENT: the figures may measure the generator, not the server. */
  limited: boolean;
}

export function generatorCpu(snapshots: ReadonlyMap<number, ShardSnapshot>): GeneratorCpu {
  const threads = [...snapshots.entries()].sort((a, b) => a[0] - b[0]).map(([shard, snapshot]) => ({ shard, cpuPercent: snapshot.cpuPercent }));
  const busiest = threads.reduce((most, thread) => Math.max(most, thread.cpuPercent), 0);
  return { threads, busiest, limited: busiest > GENERATOR_LIMIT_PERCENT };
}

/** One line when a thread was busier than the limit: its figures may be the generator's ceiling. */
export function generatorLimitWarning(cpu: GeneratorCpu): string | undefined {
  if (!cpu.limited) return undefined;
  const busy = cpu.threads.filter((thread) => thread.cpuPercent > GENERATOR_LIMIT_PERCENT);
  return `the generator was the limit: ${busy.length} of ${cpu.threads.length} thread${cpu.threads.length === 1 ? '' : 's'} ` +
    `over ${GENERATOR_LIMIT_PERCENT}% busy (busiest ${cpu.busiest.toFixed(0)}%); these figures may measure the generator, ` +
    'not the server: add --threads (or generator machines)';
}
