/** Assertions shared by the load-generator tests: counts and ordering, never timing thresholds. */
import type { ExecutionContext } from 'ava';
import type { LoadResult, Percentiles } from '../../src/load/run.js';

export function assertOrderedPercentiles(t: ExecutionContext, p: Percentiles, what: string): void {
  t.true(p.count > 0, `${what}: has samples`);
  t.true(p.p50 > 0, `${what}: p50 is positive`);
  t.true(p.p50 <= p.p90 && p.p90 <= p.p99 && p.p99 <= p.p99_9 && p.p99_9 <= p.max, `${what}: percentiles are ordered ${JSON.stringify(p)}`);
}

/** Every planned connection opened, stayed open to the end, and closed with a clean 1000 handshake. */
export function assertAllConnectionsClean(t: ExecutionContext, result: LoadResult): void {
  t.deepEqual(result.errors, {}, 'no errors');
  t.is(result.connect.opened, result.connections);
  t.is(result.connect.openAtEnd, result.connections);
  t.is(result.connect.closedClean, result.connections);
}
