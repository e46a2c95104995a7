/** The node's counters: what each thread reports (placement.ts), summed on the main thread. */
import { BROKER_COUNTERS, emptyBrokerStats } from '../pubsub/broker.js';
import type { ThreadStats } from '../server/connection-server.js';
import { idleCollectionStats, type IdleCollectionStats } from '../server/idle-collector.js';
import { threadMemory, type ThreadMemory } from '../server/thread-memory.js';
import type { PlacementStats } from '../server/placement.js';
import { addTrafficStats, emptyTrafficStats, type TrafficStats } from '../metrics/thread-traffic.js';

/** The node's counters: every thread's, summed. */
export interface ServerStats {
  connections: number;
  bufferedAmount: number;
  /** Per worker (empty inline); null for a worker that is down or did not answer. */
  workers: (ThreadStats | null)[];
  pubsub: { subscriptions: number } & ThreadStats['pubsub'];
  /** Connections closed or dropped for their send queues (summed over the threads). */
  buffers: ThreadStats['buffers'];
  /** Collections after connection storms, every thread's (the main thread's included). */
  idleCollections: IdleCollectionStats;
  /** Handler exceptions and rejections, every thread's: each closed its connection with 1011. */
  applicationErrors: number;
  /** Compressed messages being inflated, every thread's budget summed (peakBytes: the largest thread's). */
  inflate: ThreadStats['inflate'];
  /** The process's resident memory, and each thread's memory (main first, then each worker; null: not answering). */
  memory: { rss: number; threads: (ThreadMemory | null)[] };
  pool?: { restarts: number; stuck: number; overMemory: number };
  /** Messages, bytes and handshakes, every thread's summed (read by /metrics). */
  traffic: TrafficStats;
}

export function nodeStats({ local, workers, relayed, pool }: PlacementStats): ServerStats {
  const threads = local === undefined ? workers : [local, ...workers];
  const pubsub = { subscriptions: 0, ...emptyBrokerStats() };
  const buffers = { closedSendQueueFull: 0, closedBufferLimit: 0, releasedClosing: 0 };
  let connections = 0;
  let bufferedAmount = 0;
  let applicationErrors = 0;
  const inflate = { inUseBytes: 0, peakBytes: 0, granted: 0, waited: 0, waiting: 0 };
  const traffic = emptyTrafficStats();
  for (const thread of threads) {
    if (thread === undefined) continue;
    addTrafficStats(traffic, thread.traffic);
    connections += thread.connections;
    applicationErrors += thread.applicationErrors;
    inflate.inUseBytes += thread.inflate.inUseBytes;
    inflate.peakBytes = Math.max(inflate.peakBytes, thread.inflate.peakBytes);
    inflate.granted += thread.inflate.granted;
    inflate.waited += thread.inflate.waited;
    inflate.waiting += thread.inflate.waiting;
    bufferedAmount += thread.bufferedAmount;
    buffers.closedSendQueueFull += thread.buffers.closedSendQueueFull;
    buffers.closedBufferLimit += thread.buffers.closedBufferLimit;
    buffers.releasedClosing += thread.buffers.releasedClosing;
    pubsub.subscriptions += thread.subscriptions;
    for (const key of BROKER_COUNTERS) pubsub[key] += thread.pubsub[key];
  }
  // The main thread's own count once: the local server's stats read the same per-thread counter.
  const idleCollections = idleCollectionStats();
  for (const worker of workers) {
    if (worker === undefined) continue;
    idleCollections.collections += worker.idleCollections.collections;
    idleCollections.pauseMs += worker.idleCollections.pauseMs;
  }
  if (relayed !== undefined) {
    pubsub.published += relayed.published;
    pubsub.received += relayed.received;
  }
  // The main thread's own memory once: the local server's stats read this same thread's.
  const memory = { rss: process.memoryUsage.rss(), threads: [threadMemory(), ...workers.map((thread) => thread?.memory ?? null)] };
  return {
    connections, bufferedAmount, pubsub, buffers, idleCollections, applicationErrors, inflate, memory, traffic,
    workers: workers.map((thread) => thread ?? null),
    ...(pool === undefined ? {} : { pool }),
  };
}
