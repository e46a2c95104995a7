/**
 * One memory-reducing garbage collection when a thread goes quiet after many connections opened
 * or closed.
 *
 * An accept storm leaves a thread's heap larger than what it holds: what each handshake made
 * survives a scavenge or two while thousands wait their turn, reaches the old generation, and
 * dies there; V8 keeps those pages committed, and with idle connections nothing allocates, so no
 * collection comes to give them back (a worker held 2 KiB of garbage per connection in its old
 * generation after a storm of 10 000, and its RSS stayed flat through the hold). Measured with
 * 10 000 connections held after a storm (`wasmsocket load --scenario connect --connections
 * 10000 --ramp 0`, RSS per connection at 8 s, `--idle-collect-after 0` against the default, one
 * run each): inline 3.81 → 3.22 KiB, one worker 4.79 → 3.32 KiB (its main thread and worker
 * each collect), for one pause of 100–160 ms per thread while it has nothing else to do.
 *
 * The count is per thread (a collection is per V8 isolate), whichever servers report to it.
 */
import { performance } from 'node:perf_hooks';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** How often an armed thread checks whether it has gone quiet. */
const CHECK_MS = 1000;
/**
 * Quiet: the thread used less CPU than this share of the last check's interval. Its own CPU
 * time, not its event loop's busy wall time, so that a machine busy with other work (which
 * stretches every task) does not make an idle thread look busy.
 */
const QUIET_CPU_SHARE = 0.05;
/**
 * After a collection that paused P ms, the next waits at least this many times P: at most 1% of
 * the time in these pauses, however the connections churn (a collection's pause grows with
 * the heap: about 150 ms for 10 000 connections held).
 */
const PAUSE_SPACING = 100;

/** V8's `gc` extension; the options object picks a full, compacting, memory-reducing collection. */
type CollectGarbage = (options?: { type: 'major'; execution: 'sync'; flavor?: 'last-resort' }) => void;

export interface IdleCollectionStats {
  /** Collections run on this thread. */
  collections: number;
  /** Their pauses, summed, in ms. */
  pauseMs: number;
}

let churn = 0;
/** Enough connections came and went: collect at the next quiet second. */
let churnArmed = false;
/** Checks left in the window after a memory burst (see noteMemoryBurst). */
let burstChecksLeft = 0;
let timer: NodeJS.Timeout | undefined;
/** CPU µs of this thread and the time, at the last check. */
let lastCpuUs = 0;
let lastCheckAt = 0;
let collect: CollectGarbage | null | undefined;
let notBefore = 0;
const stats: IdleCollectionStats = { collections: 0, pauseMs: 0 };

/**
 * A connection opened or closed on this thread. `threshold` (the server's `idleCollectAfter`,
 * 0: off) is how many of them arm the check; the thread collects at its next quiet second.
 */
export function noteConnectionChurn(threshold: number): void {
  if (threshold === 0 || ++churn < threshold) return;
  churnArmed = true;
  if (timer === undefined) armQuietCheck();
}

/**
 * A burst of large short-lived allocations on this thread is over (inflated messages of many
 * connections at once). Their memory is external (ArrayBuffers), freed only by a collection,
 * which an idle thread never has, and the messages may still be held for a while (in the send
 * queues of clients that do not read). So for BURST_WINDOW_CHECKS seconds the thread collects
 * at each quiet second while its isolate counts at least BURST_EXTERNAL_BYTES of external
 * memory, live or not yet collected (spaced as any collection here: at most 1% of the time).
 * `threshold` is the server's `idleCollectAfter`: 0 turns this off too.
 */
export function noteMemoryBurst(threshold: number): void {
  if (threshold === 0) return;
  burstChecksLeft = BURST_WINDOW_CHECKS;
  if (timer === undefined) armQuietCheck();
}

/** The window after a memory burst, in checks (seconds). */
const BURST_WINDOW_CHECKS = 30;
/** External memory of the thread's isolate worth a collection in that window. */
const BURST_EXTERNAL_BYTES = 32 * 1024 * 1024;

function armQuietCheck(): void {
  lastCpuUs = threadCpuUs();
  lastCheckAt = performance.now();
  timer = setInterval(checkQuiet, CHECK_MS);
  timer.unref();
}

export function idleCollectionStats(): IdleCollectionStats {
  return { ...stats };
}

/** User and system CPU time of the calling thread (Node ≥ 23.9, which @types/node 20 lacks). */
function threadCpuUs(): number {
  const { user, system } = (process as unknown as { threadCpuUsage(): NodeJS.CpuUsage }).threadCpuUsage();
  return user + system;
}

function checkQuiet(): void {
  const cpuUs = threadCpuUs(), now = performance.now();
  const share = (cpuUs - lastCpuUs) / 1000 / (now - lastCheckAt);
  lastCpuUs = cpuUs;
  lastCheckAt = now;
  if (burstChecksLeft > 0) burstChecksLeft--;
  const quiet = share < QUIET_CPU_SHARE && now >= notBefore;
  const afterBurst = burstChecksLeft > 0 && getHeapStatistics().external_memory >= BURST_EXTERNAL_BYTES;
  if (quiet && (churnArmed || afterBurst)) {
    // After a storm of connections, a compacting collection gives back old-generation pages;
    // after a burst of large buffers, one ordinary full collection frees them, at a fraction of
    // the pause (so the next may come sooner).
    collectNow(churnArmed);
    churnArmed = false;
    churn = 0;
  }
  if (!churnArmed && burstChecksLeft === 0) {
    clearInterval(timer);
    timer = undefined;
  }
}

function collectNow(compacting: boolean): void {
  collect ??= collectorFunction();
  if (collect === null) return;
  const started = performance.now();
  collect(compacting ? { type: 'major', execution: 'sync', flavor: 'last-resort' } : { type: 'major', execution: 'sync' });
  const pauseMs = performance.now() - started;
  stats.collections++;
  stats.pauseMs += pauseMs;
  notBefore = performance.now() + PAUSE_SPACING * pauseMs;
}

/**
 * `gc` from `--expose-gc` when the process has it; else the flag is set, and a new context has
 * it. The flag stays set: V8 flags are the process's, so a thread that unset it could do so
 * between another thread's set and its context (that thread then never collected: seen once in
 * CI as one collection of two). Contexts made later (vm contexts, workers started after it) have
 * a global `gc` too, as under --expose-gc. null where neither works.
 */
function collectorFunction(): CollectGarbage | null {
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === 'function') return exposed as CollectGarbage;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as CollectGarbage;
  } catch {
    return null;
  }
}
