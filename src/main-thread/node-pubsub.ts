/**
 * What a node's pub/sub needs beyond its threads, chosen once from the options: the Redis
 * backplane that joins it to other nodes (`redis`), and where its topics' offsets and history
 * live (in Redis with a backplane, in this process's memory without one, nowhere with
 * `historySize: 0`).
 */
import { randomUUID } from 'node:crypto';
import type { LogSink } from '../logging/logger.js';
import { LocalHistory, MemoryHistory } from '../pubsub/history.js';
import { RedisBackplane, type BackplaneOptions } from '../pubsub/redis-backplane.js';
import type { NodeHistory } from '../pubsub/relay.js';
import type { ResolvedOptions } from '../server/options.js';

export interface NodePubSub {
  backplane: RedisBackplane | undefined;
  /** The history held in this process (one node), closed with the server. */
  memory: MemoryHistory | undefined;
  /** Where the placement gets offsets, history reads and the other nodes' presence counts. */
  history: NodeHistory | undefined;
}

/** What the backplane hands to the node: other nodes' publishes, and their questions about presence. */
export type BackplaneEvents = Pick<BackplaneOptions, 'onMessage' | 'countSubscribers'>;

export function nodePubSub(options: ResolvedOptions, log: LogSink, events: BackplaneEvents): NodePubSub {
  const limits = { size: options.historySize, ttlMs: options.historyTtlMs, maxBytes: options.maxHistoryBytes };
  const keepsHistory = limits.size > 0;
  if (options.redis === undefined) {
    const memory = keepsHistory ? new MemoryHistory(limits) : undefined;
    return { backplane: undefined, memory, history: memory === undefined ? undefined : new LocalHistory(memory) };
  }
  const backplane = new RedisBackplane({
    url: options.redis, nodeId: randomUUID(), log, ...events,
    pingIntervalMs: options.redisPingIntervalMs, pingTimeoutMs: options.redisPingTimeoutMs,
    history: keepsHistory ? limits : undefined,
  });
  const history: NodeHistory | undefined = !keepsHistory ? undefined : {
    sequence: (topic, message, done) => backplane.sequence(topic, message, done),
    read: (topic, query, done) => backplane.read(topic, query, done),
    otherNodes: (topic) => backplane.otherNodes(topic),
  };
  return { backplane, memory: undefined, history };
}
