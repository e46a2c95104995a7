/**
 * The measurement behind the subscription limits (src/pubsub/broker.ts): CPU of one publish and
 * of removing a subscriber, for one subscriber holding N distinct wildcard patterns that all
 * match one 20-segment topic (a.*.a.*… style: bit i of n makes segment i + 1 a `*`), at N =
 * 100 000 (the flood) and at the default maxSubscriptions. Medians of 5 runs. Then the
 * issue's scenario end to end, inline: a client sends 100 000 such subscribes and 40 publishes
 * of the topic; how long a bystander's publish waits for its delivery, and the close.
 *
 *   node dist/test/measure/subscription-flood.js
 *
 * Not an ava test (no .test.js): its numbers go to bench/results/measurements.md.
 */
import { once } from 'node:events';
import WebSocket from 'ws';
import { DEFAULTS, listen } from '../../src/main-thread/server.js';
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

const server = await listen({ port: 0, app: 'pubsub', workers: 0 });
const open = async (): Promise<WebSocket> => {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  await once(ws, 'open');
  return ws;
};
const [flooder, bystander] = [await open(), await open()];
let replies = 0;
let deliveries = 0;
flooder.on('message', (data) => ((JSON.parse(String(data)) as { type: string }).type === 'message' ? deliveries++ : replies++));
const FLOOD = 100_000;
for (let n = 0; n < FLOOD; n++) flooder.send(JSON.stringify({ type: 'subscribe', topic: pattern(n) }));
while (replies < FLOOD) await new Promise((resolve) => setTimeout(resolve, 20));
bystander.send(JSON.stringify({ type: 'subscribe', topic: 'chat.room' }));
await once(bystander, 'message');
for (let i = 0; i < 40; i++) flooder.send(JSON.stringify({ type: 'publish', topic: TOPIC, data: i }));
let start = performance.now();
bystander.send(JSON.stringify({ type: 'publish', topic: 'chat.room', data: 'still here?' }));
await once(bystander, 'message');
const waited = performance.now() - start;
while (deliveries < 40) await new Promise((resolve) => setTimeout(resolve, 5));
start = performance.now();
flooder.close();
await once(flooder, 'close');
const closing = performance.now() - start;
const { pubsub } = await server.stats();
console.log(`${FLOOD} subscribes from one client (${pubsub.tooManySubscriptions} refused) and 40 publishes: a bystander waited ${waited.toFixed(0)} ms, the close took ${closing.toFixed(0)} ms`);
bystander.close();
await server.close();
