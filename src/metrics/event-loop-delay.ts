/**
 * How late this thread's event loop runs a timer: a timer asks to run every SAMPLE_MS, and how
 * much later than that it ran is one observation. A turn that takes 80 ms (a large message
 * parsed, a long handler, a major GC) shows as an 80 ms delay: what every connection of the
 * thread waited. Started only when metrics are served; it costs one timer callback per sample.
 */
import { performance } from 'node:perf_hooks';
import { copyBucketCounts, createBucketCounts, observe, type BucketCounts } from './bucket-counts.js';

const SAMPLE_MS = 20;

/** Upper bounds of the delay buckets, seconds. */
export const EVENT_LOOP_DELAY_BOUNDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

let delays: BucketCounts | undefined;

/** Starts sampling this thread's event-loop delay (once; later calls change nothing). */
export function watchEventLoopDelay(): void {
  if (delays !== undefined) return;
  const histogram = createBucketCounts(EVENT_LOOP_DELAY_BOUNDS);
  delays = histogram;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    observe(histogram, Math.max(0, now - last - SAMPLE_MS) / 1000);
    last = now;
  }, SAMPLE_MS);
  timer.unref();
}

/** This thread's delays so far; null when not watched. */
export function eventLoopDelay(): BucketCounts | null {
  return delays === undefined ? null : copyBucketCounts(delays);
}
