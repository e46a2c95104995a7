/**
 * The measurement behind the subscription limits (src/pubsub/broker.ts): CPU of one publish and
 * of removing a subscriber, for one subscriber holding N distinct wildcard patterns that all
 * match one 20-segment topic (a.*.a.*… style: bit i of n makes segment i + 1 a `*`), at N =
 * 100 000 (the flood) and at the default maxSubscriptions. Medians of 5 runs.
 *
 *   node dist/test/measure/subscription-flood.js
 *
 * Not an ava test (no .test.js): its numbers go to the README.
 */
import { DEFAULTS } from '../../src/server/server.js';
import { SubscriptionIndex } from '../../src/pubsub/topics.js';

const SEGMENTS = 20;
const TOPIC = Array(SEGMENTS).fill('a').join('.');

function pattern(n: number): string {
  return Array.from({ length: SEGMENTS }, (_, i) => (i > 0 && (n >> (i - 1)) & 1 ? '*' : 'a')).join('.');
}

/** CPU milliseconds (user + system) that `run` takes. */
function cpuMs(run: () => void): number {
  const start = process.cpuUsage();
  run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

for (const count of [100_000, DEFAULTS.maxSubscriptions]) {
  const matches: number[] = [];
  const removals: number[] = [];
  for (let run = 0; run < 5; run++) {
    const index = new SubscriptionIndex<string>();
    for (let n = 0; n < count; n++) index.add(pattern(n), 'flooder');
    index.add(TOPIC, 'bystander');
    let visited = 0;
    matches.push(cpuMs(() => { visited = index.match(TOPIC, () => {}); }));
    if (visited !== 2) throw new Error(`visited ${visited} subscribers, not 2`);
    removals.push(cpuMs(() => index.removeAll('flooder')));
  }
  console.log(`${count} patterns: one publish ${median(matches).toFixed(2)} ms CPU, removing the subscriber ${median(removals).toFixed(2)} ms CPU`);
}
