/**
 * The generator measures its own CPU per thread (process.threadCpuUsage() in each shard's thread)
 * while the traffic runs, reports it in the JSON and the summary, and says when it was the limit.
 */
import test from 'ava';
import { generatorCpu, generatorLimitWarning } from '../../src/load/generator-cpu.js';
import { runLoad } from '../../src/load/run.js';
import { summaryTable } from '../../src/load/report.js';
import { createHistogram, emptyCounters, encodeHistogram, type ShardSnapshot } from '../../src/load/stats.js';
import { fixture, startServerProcess } from '../robustness/server-process.js';
import { assertAllConnectionsClean } from './assertions.js';
import { loadOptions } from './servers.js';

/** Burns `ms` of this thread's CPU time (not wall time: on a busy machine the wall time is longer). */
function burnCpu(ms: number): void {
  const start = process.threadCpuUsage();
  for (;;) {
    const now = process.threadCpuUsage(start);
    if (now.user + now.system >= ms * 1000) return;
  }
}

test('each generator thread reports its own CPU, and CPU burnt on that thread shows in it', async (t) => {
  const server = await startServerProcess(t, [fixture('serve'), JSON.stringify({ host: '127.0.0.1', port: 0, workers: 0, app: 'echo' })]);
  let burnt = false;
  // One shard runs inline on this thread: the first progress report comes while the traffic runs.
  const result = await runLoad(loadOptions(`ws://127.0.0.1:${server.port}/`, '--connections', '4', '--duration', '1.5'), {
    onProgress: () => {
      if (burnt) return;
      burnt = true;
      burnCpu(300);
    },
  });
  t.true(burnt);
  assertAllConnectionsClean(t, result);
  t.deepEqual(result.generator.threads.map((thread) => thread.shard), [0]);
  const { cpuPercent } = result.generator.threads[0];
  t.is(result.generator.busiest, cpuPercent);
  // The window (go → stop) is shorter than the whole run: its CPU share × the run's time covers the 300 ms burnt.
  t.true(cpuPercent / 100 * result.elapsedS * 1000 >= 300, `${cpuPercent}% over ${result.elapsedS} s holds 300 ms`);
  t.true(cpuPercent <= 105, `${cpuPercent}% is one thread's share`);
  t.regex(summaryTable(result), /^generator cpu +thread 0 \d+% busy$/m);
});

test('two generator threads: one CPU figure each, by shard', async (t) => {
  const server = await startServerProcess(t, [fixture('serve'), JSON.stringify({ host: '127.0.0.1', port: 0, workers: 0, app: 'echo' })]);
  const result = await runLoad(loadOptions(`ws://127.0.0.1:${server.port}/`, '--connections', '4', '--threads', '2', '--duration', '0.5'));
  assertAllConnectionsClean(t, result);
  t.deepEqual(result.generator.threads.map((thread) => thread.shard), [0, 1]);
  for (const { cpuPercent } of result.generator.threads) t.true(cpuPercent > 0 && cpuPercent <= 105, `${cpuPercent}%`);
  t.is(result.generator.busiest, Math.max(...result.generator.threads.map((thread) => thread.cpuPercent)));
});

test('a thread over 90% busy: "the generator was the limit", naming how many threads', (t) => {
  const snapshot = (cpuPercent: number): ShardSnapshot => {
    const empty = encodeHistogram(createHistogram());
    return { counters: emptyCounters(), errors: {}, latency: empty, handshake: empty, service: empty, cpuPercent };
  };
  const calm = generatorCpu(new Map([[1, snapshot(40)], [0, snapshot(90)]]));
  t.deepEqual(calm, { threads: [{ shard: 0, cpuPercent: 90 }, { shard: 1, cpuPercent: 40 }], busiest: 90, limited: false });
  t.is(generatorLimitWarning(calm), undefined);
  const busy = generatorCpu(new Map([[0, snapshot(97.5)], [1, snapshot(40)]]));
  t.true(busy.limited);
  t.is(generatorLimitWarning(busy), 'the generator was the limit: 1 of 2 threads over 90% busy (busiest 98%); ' +
    'these figures may measure the generator, not the server: add --threads (or generator machines)');
});
