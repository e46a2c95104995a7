/** The recovery scenario the history tests run inline, with workers and over two nodes. */
import type { ExecutionContext } from 'ava';
import { once } from 'node:events';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { StreamClient } from './stream-client.js';

/** Offsets first..last. */
function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

/**
 * A subscriber on `subscribePort` is dropped (TCP reset, no close frame) mid-stream while the
 * publishers keep publishing; it reconnects on `recoverPort` with the last offset it saw and
 * recovers while publishes go on. Checks that the two connections together saw every offset
 * exactly once, in order, with each publish's data.
 */
export async function dropMidStreamAndRecover(t: ExecutionContext, publishers: StreamClient[], subscribePort: number, recoverPort: number, topic: string): Promise<void> {
  const first = await StreamClient.connect(subscribePort);
  const subscribed = await first.request({ type: 'subscribe', topic });
  t.is(subscribed.offset, 0);
  const epoch = subscribed.epoch as string;
  t.is(typeof epoch, 'string');
  let published = 0;
  let stopAt = Infinity;
  const dataOf = new Map<number, number>();
  const publishing = (async () => {
    while (published < stopAt) {
      publishers[published % publishers.length]!.send({ type: 'publish', topic, data: published });
      published++;
      if (published % 5 === 0) await nextTurn();
    }
  })();
  await first.until(() => first.messages(topic).length >= 20, '20 deliveries before the drop');
  first.ws.terminate();
  await once(first.ws, 'close');
  const seen = first.messages(topic);
  const last = seen.at(-1)!.offset as number;

  const second = await StreamClient.connect(recoverPort);
  const recovered = await second.request({ type: 'subscribe', topic, recover: { offset: last, epoch } });
  t.like(recovered, { type: 'subscribed', topic, epoch, recovered: true });
  // Publishes went on during the recovery; 30 more after it, then stop.
  stopAt = Math.max(published, (recovered.offset as number)) + 30;
  await publishing;
  await second.until(() => (second.offsets(topic).at(-1) ?? 0) >= stopAt, `offset ${stopAt} after the recovery`);
  const all = [...seen, ...second.messages(topic)];
  t.deepEqual(all.map((m) => m.offset), range(1, stopAt), 'every offset exactly once, in order');
  for (const message of all) dataOf.set(message.offset as number, message.data as number);
  t.deepEqual([...dataOf.values()].sort((a, b) => a - b), range(0, stopAt - 1), 'every publish exactly once');
  t.true(second.offsets(topic)[0]! === last + 1, 'the replay starts right after the last offset seen');
  second.close();
}

