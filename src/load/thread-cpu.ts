/**
 * The CPU time of the calling thread (process.threadCpuUsage(): user + system of this thread
 * only, also in a worker thread) per second of wall time over a window: how busy one generator
 * thread was. A thread near 100% measured itself, not the server.
 */

declare global {
  namespace NodeJS {
    interface Process {
      /** Node ≥ 23.9 (our engines: ≥ 24.22); @types/node 20 predates it. */
      threadCpuUsage(previous?: CpuUsage): CpuUsage;
    }
  }
}

/** Above this share of one core, the summary says the generator was the limit. */
export const GENERATOR_LIMIT_PERCENT = 90;

export class ThreadCpu {
  #cpuUs = 0;
  #atMs = 0;

  constructor() {
    this.mark();
  }

  /** Starts a new window now. */
  mark(): void {
    const usage = process.threadCpuUsage();
    this.#cpuUs = usage.user + usage.system;
    this.#atMs = performance.now();
  }

  /** This thread's CPU since the mark, in % of one core (0 when no time has passed). */
  percentSinceMark(): number {
    const usage = process.threadCpuUsage();
    const wallMs = performance.now() - this.#atMs;
    return wallMs <= 0 ? 0 : Math.round((usage.user + usage.system - this.#cpuUs) / 10 / wallMs * 10) / 10;
  }
}
