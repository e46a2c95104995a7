/**
 * The measurement behind permessage-deflate's sync-or-async choice (src/protocol/message-*.ts):
 * event-loop time per message of Node's one-shot zlib calls, sync (inflateRawSync,
 * deflateRawSync) against async (inflateRaw, deflateRaw on the thread pool, 32 in flight), for
 * JSON-like text of 128 B to 128 KiB, plus a preset 32 KiB dictionary (context takeover) and a
 * zip bomb's worst case. Medians of 5 runs.
 *
 *   node dist/test/measure/zlib-costs.js
 *
 * Not an ava test (no .test.js): its numbers go to bench/results/measurements.md.
 */
import { performance } from 'node:perf_hooks';
import { constants, deflateRaw, deflateRawSync, inflateRaw, inflateRawSync } from 'node:zlib';

const SYNC_FLUSH = { finishFlush: constants.Z_SYNC_FLUSH };
const TAIL = Buffer.from([0, 0, 0xff, 0xff]);

function json(length: number, seed = 0): Buffer {
  let text = '';
  for (let i = seed; text.length < length; i++) text += JSON.stringify({ type: 'message', topic: `news.${i % 7}`, data: { id: i, score: (i * 37) % 101, name: `player${(i * 13) % 50}` } });
  return Buffer.from(text.slice(0, length));
}

const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1];

/** µs of event-loop time per call, sync. */
function syncCost(count: number, run: () => void): number {
  const runs = [];
  for (let r = 0; r < 5; r++) {
    const start = performance.now();
    for (let i = 0; i < count; i++) run();
    runs.push(((performance.now() - start) / count) * 1000);
  }
  return median(runs);
}

/** µs of event-loop time (busy, not waiting) per call, async with 32 in flight. */
async function asyncCost(count: number, run: (done: () => void) => void): Promise<number> {
  const runs = [];
  for (let r = 0; r < 5; r++) {
    const before = performance.eventLoopUtilization();
    let left = count;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (left-- > 0) await new Promise<void>((resolve) => run(resolve));
    }));
    runs.push((performance.eventLoopUtilization(before).active / count) * 1000);
  }
  return median(runs);
}

const fail = (error: Error | null) => { if (error) throw error; };

console.log(`zlib costs per message, µs of event-loop time (Node ${process.version}, zlib ${process.versions.zlib})`);
console.log('size      inflate sync  inflate async  deflate sync  deflate async  deflate sync + 32 KiB dictionary');
const dictionary = json(32 * 1024, 999);
for (const size of [128, 1024, 16 * 1024, 128 * 1024]) {
  const message = json(size);
  const compressed = Buffer.concat([deflateRawSync(message, SYNC_FLUSH), TAIL]);
  const count = Math.max(50, Math.min(3000, Math.floor(2e7 / size)));
  const row = [
    syncCost(count, () => inflateRawSync(compressed, SYNC_FLUSH)),
    await asyncCost(count, (done) => inflateRaw(compressed, SYNC_FLUSH, (error) => { fail(error); done(); })),
    syncCost(count, () => deflateRawSync(message, SYNC_FLUSH)),
    await asyncCost(count, (done) => deflateRaw(message, SYNC_FLUSH, (error) => { fail(error); done(); })),
    syncCost(count, () => deflateRawSync(message, { ...SYNC_FLUSH, dictionary })),
  ];
  console.log(`${String(size).padEnd(9)} ${row.map((us) => us.toFixed(1).padStart(12)).join('  ')}`);
}
const bomb = Buffer.concat([deflateRawSync(Buffer.alloc(16 << 20), SYNC_FLUSH), TAIL]);
let start = performance.now();
inflateRawSync(bomb, SYNC_FLUSH);
console.log(`16 MiB of zeros from ${bomb.length} B: inflateRawSync ${(performance.now() - start).toFixed(1)} ms`);
start = performance.now();
try { inflateRawSync(bomb, { ...SYNC_FLUSH, maxOutputLength: 256 * 1024 }); } catch { /* ERR_BUFFER_TOO_LARGE: stopped at the cap */ }
console.log(`the same, stopped at 256 KiB (maxOutputLength): ${(performance.now() - start).toFixed(2)} ms`);
