/**
 * --rate timing as wrk2 does it: message k is due at start + k·interval and leaves when due; its
 * latency counts from that intended time (coordinated omission corrected), its service time from
 * when it actually left. Real sockets; bounds are halves of the effects they detect, never tight.
 */
import test, { type ExecutionContext } from 'ava';
import { listen } from '../../src/main-thread/server.js';
import { runLoad, type LoadResult } from '../../src/load/run.js';
import { fixture, startServerProcess } from '../robustness/server-process.js';
import { assertAllConnectionsClean, assertOrderedPercentiles } from './assertions.js';
import { loadOptions } from './servers.js';

/** Every message's service time (actual send → reply) is at most its latency (intended send → reply). */
function assertServiceWithinLatency(t: ExecutionContext, result: LoadResult): void {
  const { latencyMs: latency, serviceMs: service } = result;
  t.is(service.count, latency.count, 'one service time per round trip');
  // HDR buckets keep 3 significant digits: allow that much.
  for (const p of ['p50', 'p90', 'p99', 'max'] as const) {
    t.true(service[p] <= latency[p] * 1.001 + 0.001, `service ${p} ${service[p]} ≤ latency ${p} ${latency[p]}`);
  }
}

test('paced echo: a message leaves when it is due, so latency is not one interval late', async (t) => {
  const server = await listen({ host: '127.0.0.1', port: 0, app: 'echo', workers: 0 });
  t.teardown(() => server.close());
  // 20/s: one interval is 50 ms. A pacer that sent message k only once k + 1 were due added
  // those 50 ms to every round trip; a local echo takes well under a millisecond.
  const rate = 20;
  const durationS = 2;
  const result = await runLoad(loadOptions(`ws://127.0.0.1:${server.port}/`, '--connections', '2', '--rate', String(rate), '--duration', String(durationS)));
  assertAllConnectionsClean(t, result);
  t.is(result.messages.received, result.messages.sent);
  // The pacer starts with the first open connection, before the duration counts.
  t.true(result.messages.sent >= rate * durationS - 1, `sent ${result.messages.sent}: every due message left`);
  assertOrderedPercentiles(t, result.latencyMs, 'latency');
  t.true(result.latencyMs.p50 < 25, `p50 ${result.latencyMs.p50} ms is under half an interval`);
  assertServiceWithinLatency(t, result);
});

test('a server that stalls 200 ms once: the stall reaches p99 of the latency, and the service time shows it too', async (t) => {
  const server = await startServerProcess(t, [fixture('serve'), JSON.stringify({ host: '127.0.0.1', port: 0, workers: 0, app: fixture('stall-once-app') })]);
  // 100/s for 2 s: ~20 messages are due during the stall, ~10% of the run, each waiting up to 200 ms.
  const result = await runLoad(loadOptions(`ws://127.0.0.1:${server.port}/`, '--connections', '4', '--rate', '100', '--duration', '2'));
  assertAllConnectionsClean(t, result);
  t.is(result.messages.received, result.messages.sent);
  t.true(result.latencyMs.max >= 150, `max ${result.latencyMs.max} ms holds the stall`);
  t.true(result.latencyMs.p99 >= 100, `p99 ${result.latencyMs.p99} ms holds the stall`);
  // The generator kept sending on schedule (it does not wait for replies), so the messages
  // queued behind the stall also waited from their actual send: service time does not hide it.
  t.true(result.serviceMs.p99 >= 100, `service p99 ${result.serviceMs.p99} ms holds the stall`);
  assertServiceWithinLatency(t, result);
});

test('a generator that stalls 400 ms: latency from the schedule shows it, service time from the actual send does not', async (t) => {
  const server = await startServerProcess(t, [fixture('serve'), JSON.stringify({ host: '127.0.0.1', port: 0, workers: 0, app: 'echo' })]);
  let stalled = false;
  // One shard runs inline on this thread: blocking it here blocks the generator itself, the way a
  // GC pause or an overloaded client does. The first progress report comes mid-run.
  const result = await runLoad(loadOptions(`ws://127.0.0.1:${server.port}/`, '--connections', '2', '--rate', '100', '--duration', '1.2'), {
    onProgress: () => {
      if (stalled) return;
      stalled = true;
      const until = performance.now() + 400;
      while (performance.now() < until) { /* the generator's event loop is blocked */ }
    },
  });
  t.true(stalled);
  assertAllConnectionsClean(t, result);
  // ~40 of ~150 messages were due during the block and left late, 0 to 400 ms after their time:
  // the latest tenth of all were over 250 ms late.
  t.true(result.latencyMs.max >= 300, `max ${result.latencyMs.max} ms holds the generator's stall`);
  t.true(result.latencyMs.p90 >= 100, `p90 ${result.latencyMs.p90} ms holds the generator's stall`);
  // Measured from when they actually left, the same round trips look fast: that is the omission.
  t.true(result.serviceMs.p90 < result.latencyMs.p90 / 2, `service p90 ${result.serviceMs.p90} ms is not inflated by the late sends`);
  assertServiceWithinLatency(t, result);
});
