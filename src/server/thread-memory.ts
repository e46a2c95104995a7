/**
 * Memory of this thread's isolate outside its JS heap: Buffers and ArrayBuffers an application
 * keeps, and native memory V8 is told of. A worker's `resourceLimits` bound its heap only; a
 * handler that keeps the Buffers it receives grows `external` instead, unbounded and (before
 * this) unseen. `process.memoryUsage()` in a worker reports that worker's isolate: each worker
 * has its own ArrayBuffer allocator.
 */

/** One thread's memory, bytes. `arrayBuffers` is part of `external`. */
export interface ThreadMemory {
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export function threadMemory(): ThreadMemory {
  const { heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { heapUsed, external, arrayBuffers };
}

/** How often a worker compares its external memory with its cap. */
export const EXTERNAL_MEMORY_CHECK_MS = 250;

/**
 * Calls `over(external)` once when this thread's external memory passes `limit` bytes (checked
 * every EXTERNAL_MEMORY_CHECK_MS). The timer does not keep the thread alive.
 */
export function watchExternalMemory(limit: number, over: (external: number) => void): void {
  const timer = setInterval(() => {
    const { external } = process.memoryUsage();
    if (external <= limit) return;
    clearInterval(timer);
    over(external);
  }, EXTERNAL_MEMORY_CHECK_MS);
  timer.unref();
}
