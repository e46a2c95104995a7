/**
 * How a run is spread: connections over shards (one per worker thread, or the main thread), shards
 * over processes when one process's open-file limit cannot hold them all. Pure, so tests call it.
 */
import type { CodecKind } from '../codec/codec.js';
import type { LoadOptions, LoadTarget, Scenario } from './options.js';
import type { PayloadKind } from './payload.js';
import type { ClientDeflateOffer } from './deflate.js';
import { shardStages, type Stage } from './stages.js';

/** What one shard (one thread's event loop) runs. Plain data: it crosses threads and processes. */
export interface ShardPlan {
  shard: number;
  target: LoadTarget;
  scenario: Scenario;
  /** Global index of the shard's first connection: source addresses go round-robin on it. */
  firstConnection: number;
  /** All of the shard's connections; in broadcast the last `publishers` of them publish. */
  connections: number;
  publishers: number;
  /** broadcast: run-wide id of the shard's first publisher, and publishers in the whole run. */
  firstPublisher: number;
  totalPublishers: number;
  /** Shards in the whole run. */
  shards: number;
  /** This shard's share of the open rate per second; 0 = as fast as possible. */
  ramp: number;
  size: number;
  binary: boolean;
  inFlight: number;
  /** This shard's share of the message rate; 0 = in-flight mode. */
  rate: number;
  topic: string;
  codec: CodecKind;
  payload: PayloadKind;
  deflate: ClientDeflateOffer | undefined;
  sourceIps: string[];
  handshakeTimeoutMs: number;
  closeTimeoutMs: number;
  /** --stages: this shard's share of the open connections over time; undefined: open all, hold. */
  stages: Stage[] | undefined;
  /** `custom`: the scenario module's file URL. */
  scenarioModule: string | undefined;
  stormIntervalMs: number;
}

export interface RunPlan {
  /** Shards grouped by process; one group runs in this process, several in child processes. */
  processes: ShardPlan[][];
  shards: number;
  totalConnections: number;
  connectionsPerProcess: number;
}

/** File descriptors a process keeps for itself (stdio, epoll, worker threads, sockets closing). */
export function reservedDescriptors(openFileLimit: number): number {
  return Math.max(64, Math.ceil(openFileLimit / 10));
}

/** The most processes the plan picks by itself; `--processes` may ask for more. */
const MAX_AUTO_PROCESSES = 64;

/** Splits `total` into `parts` near-equal integers, larger ones first. */
export function split(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  const extra = total % parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
}

export function planRun(options: LoadOptions, openFileLimit: number): RunPlan {
  const publishers = options.scenario === 'broadcast' ? options.publishers : 0;
  const totalConnections = options.connections + publishers;
  const connectionsPerProcess = Math.max(16, openFileLimit - reservedDescriptors(openFileLimit));
  // An explicit --processes wins (past the limit, EMFILE errors will say so); else the limit decides.
  const processCount = options.processes > 0 ? options.processes
    : Math.min(MAX_AUTO_PROCESSES, Math.ceil(totalConnections / connectionsPerProcess));
  // Every process runs at least one shard; --threads is the total number of shards.
  const shardsPerProcess = Math.max(1, Math.ceil(options.threads / processCount));
  const shardCount = Math.min(processCount * shardsPerProcess, totalConnections);
  const connectionsPerShard = split(totalConnections, shardCount);
  const publishersPerShard = split(publishers, shardCount);
  const shards: ShardPlan[] = [];
  let first = 0;
  let firstPublisher = 0;
  for (let shard = 0; shard < shardCount; shard++) {
    const connections = connectionsPerShard[shard];
    const share = connections / totalConnections;
    shards.push({
      shard,
      target: options.target,
      scenario: options.scenario,
      firstConnection: first,
      connections,
      publishers: Math.min(publishersPerShard[shard], connections),
      firstPublisher,
      totalPublishers: publishers,
      shards: shardCount,
      ramp: options.ramp * share,
      size: options.size,
      binary: options.binary,
      inFlight: options.inFlight,
      // broadcast: the publish rate follows the publishers; echo: the connections.
      rate: publishers > 0 ? options.rate * (publishersPerShard[shard] / publishers) : options.rate * share,
      topic: options.topic,
      codec: options.codec,
      payload: options.payload,
      deflate: options.deflate,
      sourceIps: options.sourceIps,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      closeTimeoutMs: options.closeTimeoutMs,
      stages: options.stages === undefined ? undefined : shardStages(options.stages, shard, shardCount),
      scenarioModule: options.scenarioModule,
      stormIntervalMs: options.stormIntervalMs,
    });
    first += connections;
    firstPublisher += Math.min(publishersPerShard[shard], connections);
  }
  const groups: ShardPlan[][] = Array.from({ length: Math.min(processCount, shardCount) }, () => []);
  shards.forEach((plan, i) => groups[i % groups.length].push(plan));
  return { processes: groups, shards: shardCount, totalConnections, connectionsPerProcess };
}
