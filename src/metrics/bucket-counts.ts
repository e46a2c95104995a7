/**
 * A histogram kept as plain numbers: a count per bucket, their sum and how many. Each thread
 * keeps its own (an observation is a few comparisons and additions, no allocation); the main
 * thread adds the threads' together when it is scraped, so one histogram covers the node. Plain
 * data: it crosses threads in a stats answer as it is.
 */

export interface BucketCounts {
  /** Upper bounds, ascending (the last bucket, past them, is +Inf). */
  readonly bounds: readonly number[];
  /** Observations per bucket, not cumulative: counts[i] ≤ bounds[i] and > bounds[i - 1]; one more for +Inf. */
  readonly counts: number[];
  sum: number;
  count: number;
}

export function createBucketCounts(bounds: readonly number[]): BucketCounts {
  return { bounds, counts: new Array<number>(bounds.length + 1).fill(0), sum: 0, count: 0 };
}

export function observe(histogram: BucketCounts, value: number): void {
  const { bounds } = histogram;
  let i = 0;
  while (i < bounds.length && value > bounds[i]!) i++;
  histogram.counts[i]!++;
  histogram.sum += value;
  histogram.count++;
}

/** Adds `from`'s observations to `into` (the same bounds). */
export function addBucketCounts(into: BucketCounts, from: BucketCounts): void {
  for (let i = 0; i < into.counts.length; i++) into.counts[i]! += from.counts[i] ?? 0;
  into.sum += from.sum;
  into.count += from.count;
}

export function copyBucketCounts(histogram: BucketCounts): BucketCounts {
  return { bounds: histogram.bounds, counts: [...histogram.counts], sum: histogram.sum, count: histogram.count };
}
