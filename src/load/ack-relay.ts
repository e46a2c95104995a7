/**
 * Closed-loop broadcast over several shards: each shard reports, per publisher, the highest
 * sequence all of its own subscribers have reached; the coordinator keeps the minimum over the
 * shards (the slowest subscriber of the run) and sends it back when it rises. A shard without
 * subscribers never holds a publisher back.
 */
import type { ShardPlan } from './plan.js';
import { NO_SUBSCRIBERS } from './publish-window.js';

export class AckRelay {
  readonly #publishers: number;
  readonly #shards: number;
  /** shard × publisher → that shard's complete sequence. */
  readonly #table: Float64Array;
  /** The minimum last sent out, per publisher. */
  readonly #sent: Float64Array;

  constructor(plans: readonly ShardPlan[], publishers: number) {
    this.#publishers = publishers;
    this.#shards = plans.length;
    this.#table = new Float64Array(plans.length * publishers);
    for (const plan of plans) {
      const hostsSubscribers = plan.connections > plan.publishers;
      this.#table.fill(hostsSubscribers ? -1 : NO_SUBSCRIBERS, plan.shard * publishers, (plan.shard + 1) * publishers);
    }
    this.#sent = new Float64Array(publishers).fill(-1);
  }

  /** A shard's `[publisher, complete, …]` pairs in; the pairs whose run-wide minimum rose out (empty: none). */
  update(shard: number, acks: readonly number[]): number[] {
    const out: number[] = [];
    const publishers = this.#publishers;
    for (let k = 0; k < acks.length; k += 2) {
      const publisher = acks[k];
      if (publisher < 0 || publisher >= publishers) continue;
      this.#table[shard * publishers + publisher] = acks[k + 1];
      let min = NO_SUBSCRIBERS;
      for (let s = 0; s < this.#shards; s++) min = Math.min(min, this.#table[s * publishers + publisher]);
      if (min > this.#sent[publisher]) {
        this.#sent[publisher] = min;
        out.push(publisher, min);
      }
    }
    return out;
  }
}
