/**
 * Presence counts across nodes: a node asks every other for its subscriptions to exactly a topic
 * on one channel, `{"ask":node,"request":n,"topic":T}`, and each answers on the same channel,
 * `{"to":node,"request":n,"count":c}`. The asker sums what comes back within COUNT_TIMEOUT_MS.
 */
import { topicError } from './topics.js';

export const COUNT_CHANNEL = 'wasmsocket-presence-count';
export const COUNT_BYTES = Buffer.from(COUNT_CHANNEL);
/** How long a presence count waits for the other nodes' answers. */
const COUNT_TIMEOUT_MS = 5000;

export interface PresenceCountOptions {
  nodeId: string;
  /** Publishes on COUNT_CHANNEL; rejects when it could not. */
  publish: (message: string) => Promise<unknown>;
  /** Whether answers can be published now. */
  usable: () => boolean;
  /** This node's subscriptions to exactly `topic`. */
  countSubscribers?: (topic: string) => Promise<number>;
}

export class PresenceCounts {
  readonly #options: PresenceCountOptions;
  /** Counts asked of the other nodes: request → the sum so far and who is left. */
  readonly #counting = new Map<number, { sum: number; left: number; done: (sum: number) => void }>();
  #nextRequest = 1;

  constructor(options: PresenceCountOptions) {
    this.#options = options;
  }

  /** The sum of the answers of `nodes` other nodes, as many as answer in time. */
  ask(topic: string, nodes: number): Promise<number> {
    const request = this.#nextRequest++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(), COUNT_TIMEOUT_MS);
      const finish = () => {
        clearTimeout(timer);
        const counting = this.#counting.get(request);
        this.#counting.delete(request);
        resolve(counting?.sum ?? 0);
      };
      this.#counting.set(request, { sum: 0, left: nodes, done: finish });
      this.#options.publish(JSON.stringify({ ask: this.#options.nodeId, request, topic })).catch(finish);
    });
  }

  /** A message on COUNT_CHANNEL: another node asks for a count, or answers ours. */
  heard(message: Buffer): void {
    let parsed: { ask?: unknown; to?: unknown; request?: unknown; topic?: unknown; count?: unknown };
    try {
      parsed = JSON.parse(message.toString('utf8'));
    } catch {
      return;
    }
    const { nodeId, countSubscribers, usable, publish } = this.#options;
    if (typeof parsed.ask === 'string' && parsed.ask !== nodeId && typeof parsed.topic === 'string' && topicError(parsed.topic, false) === undefined) {
      const count = countSubscribers?.(parsed.topic) ?? Promise.resolve(0);
      void count.then((value) => {
        if (usable()) publish(JSON.stringify({ to: parsed.ask, request: parsed.request, count: value })).catch(ignore);
      });
    } else if (parsed.to === nodeId && typeof parsed.request === 'number' && typeof parsed.count === 'number') {
      const counting = this.#counting.get(parsed.request);
      if (counting === undefined) return;
      counting.sum += parsed.count;
      if (--counting.left === 0) counting.done(counting.sum);
    }
  }
}

function ignore(): void {}
