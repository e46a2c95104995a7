/**
 * The node's metrics in the Prometheus text format (prom-client formats them). Nothing here runs
 * per message: every figure is a counter the threads keep anyway, read when the node is scraped.
 * A scrape takes one snapshot (each worker asked once for its counters, summed by the server),
 * then every metric reads that snapshot. Loaded on the first scrape, so a server that serves no
 * metrics never loads prom-client.
 *
 * docs/operations.md, "Metrics", documents every metric here: a metric added here gets its row there.
 */
import { Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { ServerStats } from './node-stats.js';
import type { AdmissionStats } from '../server/admission.js';
import type { FdStats } from '../server/fd-reserve.js';
import type { BackplaneState, BackplaneStats } from '../pubsub/redis-backplane.js';
import type { BucketCounts } from '../metrics/bucket-counts.js';
import { CarriedCounters } from './carried-counters.js';

/** What one scrape reads: the node's figures at one moment. */
export interface NodeSnapshot {
  stats: ServerStats;
  admission: AdmissionStats;
  fds: FdStats;
  uncaughtErrors: number;
  /** Refused because no worker could take the connection (all down, or the socket could not move). */
  refusedNoWorker: number;
  backplane: { state: BackplaneState; nodes: number; stats: BackplaneStats } | undefined;
  /** The main thread's event-loop delay; null when not watched. */
  mainEventLoopDelay: BucketCounts | null;
  /** Seconds of CPU the process has used (every thread), user and system. */
  cpuSeconds: { user: number; system: number };
}

type Labels = Record<string, string>;
type Sample = [labels: Labels, value: number];
type Read = (snapshot: NodeSnapshot) => Sample[];

const NO_LABELS: Labels = {};
const one = (value: number): Sample[] => [[NO_LABELS, value]];

const BACKPLANE_STATES: readonly BackplaneState[] = ['connecting', 'ready', 'recovering', 'stalled', 'down', 'closed'];

/** Each thread's label: `main`, or the worker's index. */
function threadSamples(snapshot: NodeSnapshot, pick: (thread: NonNullable<ServerStats['workers'][number]>) => number): Sample[] {
  const samples: Sample[] = [];
  snapshot.stats.workers.forEach((worker, index) => {
    if (worker !== null) samples.push([{ worker: String(index) }, pick(worker)]);
  });
  return samples;
}

/** Memory per thread: the main thread first, then each worker that answered. */
function memorySamples(snapshot: NodeSnapshot, pick: (memory: { heapUsed: number; external: number }) => number): Sample[] {
  const samples: Sample[] = [];
  snapshot.stats.memory.threads.forEach((memory, index) => {
    if (memory !== null) samples.push([{ thread: index === 0 ? 'main' : `worker${index - 1}` }, pick(memory)]);
  });
  return samples;
}

const COUNTERS: [name: string, help: string, labelNames: string[], read: Read][] = [
  ['wasmsocket_connections_accepted_total', 'TCP connections admitted (handed to a worker or served inline).', [], (s) => one(s.admission.accepted)],
  ['wasmsocket_connections_refused_total', 'TCP connections refused before any handshake, by reason.', ['reason'], (s) => [
    [{ reason: 'max_connections' }, s.admission.refusedMaxConnections],
    [{ reason: 'max_connections_per_ip' }, s.admission.refusedPerIp],
    [{ reason: 'fds_exhausted' }, s.fds.refused],
    [{ reason: 'no_worker' }, s.refusedNoWorker],
  ]],
  ['wasmsocket_handshakes_refused_total', 'Upgrade requests answered with an HTTP error, by status.', ['status'],
    (s) => Object.entries(s.stats.traffic.handshakeRefusals).map(([status, count]) => [{ status }, count])],
  ['wasmsocket_messages_received_total', 'Data messages received from clients and handed to the application.', [], (s) => one(s.stats.traffic.messagesIn)],
  ['wasmsocket_messages_sent_total', 'Data messages the application sent to one connection (pub/sub deliveries not included).', [], (s) => one(s.stats.traffic.messagesOut)],
  ['wasmsocket_received_bytes_total', 'Bytes read from upgraded connections.', [], (s) => one(s.stats.traffic.bytesIn)],
  ['wasmsocket_sent_bytes_total', 'Bytes queued for upgraded connections (a broadcast frame once per subscriber).', [], (s) => one(s.stats.traffic.bytesOut)],
  ['wasmsocket_pubsub_publishes_total', 'Publishes made on this node (by its connections and by server.publish()).', [], (s) => one(s.stats.pubsub.published)],
  ['wasmsocket_pubsub_received_total', 'Publishes received from other nodes through Redis.', [], (s) => one(s.stats.pubsub.received)],
  ['wasmsocket_pubsub_deliveries_total', 'Messages delivered to subscribers (one per subscriber per publish).', [], (s) => one(s.stats.pubsub.deliveries)],
  ['wasmsocket_pubsub_dropped_total', 'Deliveries not made, by reason.', ['reason'], (s) => [
    [{ reason: 'slow_subscriber' }, s.stats.pubsub.dropped],
    [{ reason: 'buffer_limit' }, s.stats.pubsub.droppedBufferLimit],
  ]],
  ['wasmsocket_pubsub_slow_subscriber_closes_total', 'Subscribers closed (1013) or dropped for being slow (slowPolicy close).', [], (s) => one(s.stats.pubsub.closedSlow)],
  ['wasmsocket_pubsub_refused_total', 'Subscribes and publishes refused, by reason.', ['reason'], (s) => [
    [{ reason: 'max_subscriptions' }, s.stats.pubsub.tooManySubscriptions],
    [{ reason: 'max_total_subscriptions' }, s.stats.pubsub.tooManyTotalSubscriptions],
    [{ reason: 'max_subscriptions_per_ip' }, s.stats.pubsub.tooManySubscriptionsPerIp],
    [{ reason: 'forbidden' }, s.stats.pubsub.forbidden],
  ]],
  ['wasmsocket_pubsub_recoveries_total', 'Subscribes with recover, by result: every missed message replayed, or told recovered:false.', ['result'], (s) => [
    [{ result: 'recovered' }, s.stats.pubsub.recovered],
    [{ result: 'not_recovered' }, s.stats.pubsub.notRecovered],
  ]],
  ['wasmsocket_pubsub_replayed_total', 'Messages replayed from history to recovering subscribers.', [], (s) => one(s.stats.pubsub.replayed)],
  ['wasmsocket_connections_dropped_total', 'Connections closed or dropped for their send queues, by reason.', ['reason'], (s) => [
    [{ reason: 'send_queue_full' }, s.stats.buffers.closedSendQueueFull],
    [{ reason: 'buffer_limit' }, s.stats.buffers.closedBufferLimit],
    [{ reason: 'closing_released' }, s.stats.buffers.releasedClosing],
  ]],
  ['wasmsocket_application_errors_total', 'Application handlers that threw or rejected (each closed its connection with 1011).', [], (s) => one(s.stats.applicationErrors)],
  ['wasmsocket_uncaught_errors_total', 'Uncaught errors the inline server survived (wasmsocket serve, inline).', [], (s) => one(s.uncaughtErrors)],
  ['wasmsocket_worker_restarts_total', 'Workers replaced after dying, stalling or passing their memory cap.', [], (s) => one(s.stats.pool?.restarts ?? 0)],
  ['wasmsocket_worker_stalls_total', 'Workers replaced for missing their heartbeat.', [], (s) => one(s.stats.pool?.stuck ?? 0)],
  ['wasmsocket_worker_over_memory_total', 'Workers replaced for passing maxWorkerExternalMemory.', [], (s) => one(s.stats.pool?.overMemory ?? 0)],
  ['wasmsocket_fds_exhausted_episodes_total', 'Times the process ran short of file descriptors.', [], (s) => one(s.fds.episodes)],
  ['wasmsocket_backplane_reconnects_total', 'Times the Redis backplane came back after being down.', [], (s) => one(s.backplane?.stats.reconnects ?? 0)],
  ['wasmsocket_backplane_stalls_total', 'Times Redis stopped answering PINGs in time.', [], (s) => one(s.backplane?.stats.stalls ?? 0)],
  ['wasmsocket_backplane_published_total', 'Publishes Redis accepted from this node.', [], (s) => one(s.backplane?.stats.published ?? 0)],
  ['wasmsocket_backplane_unconfirmed_total', 'Of those, sent while some node had not confirmed its subscriptions.', [], (s) => one(s.backplane?.stats.unconfirmed ?? 0)],
  ['wasmsocket_backplane_dropped_total', 'Publishes not sent to other nodes (Redis down or stalled, or PUBLISH failed).', [], (s) => one(s.backplane?.stats.dropped ?? 0)],
  ['wasmsocket_backplane_duplicates_total', 'Extra copies of a message from Redis, dropped.', [], (s) => one(s.backplane?.stats.duplicates ?? 0)],
  ['wasmsocket_inflate_waited_total', 'Compressed messages that waited for the inflate budget.', [], (s) => one(s.stats.inflate.waited)],
  ['wasmsocket_idle_collections_total', 'Garbage collections run after connection storms.', [], (s) => one(s.stats.idleCollections.collections)],
  ['wasmsocket_process_cpu_seconds_total', 'CPU time of the process, every thread, by mode.', ['mode'], (s) => [
    [{ mode: 'user' }, s.cpuSeconds.user],
    [{ mode: 'system' }, s.cpuSeconds.system],
  ]],
];

const GAUGES: [name: string, help: string, labelNames: string[], read: Read][] = [
  ['wasmsocket_connections', 'Open WebSocket connections of the node.', [], (s) => one(s.stats.connections)],
  ['wasmsocket_tcp_connections', 'Open TCP connections admitted (handshaking or upgraded), as admission counts them.', [], (s) => one(s.admission.open)],
  ['wasmsocket_worker_connections', 'Open WebSocket connections per worker (workers that answered).', ['worker'], (s) => threadSamples(s, (w) => w.connections)],
  ['wasmsocket_worker_up', '1 for each worker that answered this scrape, 0 for one down or not answering.', ['worker'],
    (s) => s.stats.workers.map((worker, index) => [{ worker: String(index) }, worker === null ? 0 : 1])],
  ['wasmsocket_subscriptions', 'Subscriptions held, every connection together.', [], (s) => one(s.stats.pubsub.subscriptions)],
  ['wasmsocket_buffered_bytes', 'Bytes waiting in send queues, every thread together.', [], (s) => one(s.stats.bufferedAmount)],
  ['wasmsocket_inflate_in_use_bytes', 'Inflated output held for large compressed messages, every thread together.', [], (s) => one(s.stats.inflate.inUseBytes)],
  ['wasmsocket_backplane_state', 'The Redis backplane state: 1 for the current one (no series without Redis).', ['state'],
    (s) => s.backplane === undefined ? [] : BACKPLANE_STATES.map((state) => [{ state }, s.backplane!.state === state ? 1 : 0])],
  ['wasmsocket_backplane_nodes', 'Other nodes this node knows through Redis.', [], (s) => s.backplane === undefined ? [] : one(s.backplane.nodes)],
  ['wasmsocket_fds_in_use', 'File descriptors in use (estimated between counts).', [], (s) => one(s.fds.inUse)],
  ['wasmsocket_fds_limit', 'The soft limit on open files (ulimit -n); no series where unknown.', [], (s) => s.fds.limit === null ? [] : one(s.fds.limit)],
  ['wasmsocket_fds_exhausted', '1 while new connections are refused for want of file descriptors.', [], (s) => one(s.fds.exhausted ? 1 : 0)],
  ['wasmsocket_process_resident_memory_bytes', 'Resident memory of the process (every thread).', [], (s) => one(s.stats.memory.rss)],
  ['wasmsocket_heap_used_bytes', 'JS heap in use per thread.', ['thread'], (s) => memorySamples(s, (m) => m.heapUsed)],
  ['wasmsocket_external_memory_bytes', 'Memory outside the JS heap per thread (Buffers, ArrayBuffers).', ['thread'], (s) => memorySamples(s, (m) => m.external)],
];

/** A histogram made of bucket counts the threads kept (prom-client's Histogram only takes observations). */
function histogramMetric(name: string, help: string, read: (snapshot: NodeSnapshot) => [Labels, BucketCounts][], current: () => NodeSnapshot) {
  return {
    name, help, type: 'histogram', aggregator: 'sum',
    get: async () => {
      const values: { metricName: string; labels: Labels; value: number }[] = [];
      for (const [labels, histogram] of read(current())) {
        let cumulative = 0;
        histogram.bounds.forEach((bound, i) => {
          cumulative += histogram.counts[i]!;
          values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: String(bound) }, value: cumulative });
        });
        values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: histogram.count });
        values.push({ metricName: `${name}_sum`, labels, value: histogram.sum });
        values.push({ metricName: `${name}_count`, labels, value: histogram.count });
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
    reset: () => {},
  };
}

export class NodeMetrics {
  readonly registry = new Registry();
  readonly #snapshot: () => Promise<NodeSnapshot>;
  readonly #carried = new CarriedCounters();
  #current: NodeSnapshot | undefined;

  constructor(snapshot: () => Promise<NodeSnapshot>) {
    this.#snapshot = snapshot;
    const registers = [this.registry];
    const current = () => this.#current!;
    for (const [name, help, labelNames, read] of COUNTERS) {
      new Counter({ name, help, labelNames, registers, collect(this: Counter<string>) {
        this.reset();
        for (const [labels, value] of read(current())) this.inc(labels, value);
      } });
    }
    for (const [name, help, labelNames, read] of GAUGES) {
      new Gauge({ name, help, labelNames, registers, collect(this: Gauge<string>) {
        this.reset();
        for (const [labels, value] of read(current())) this.set(labels, value);
      } });
    }
    const histograms = [
      histogramMetric('wasmsocket_handshake_duration_seconds', 'WebSocket handshakes answered 101, by time from the socket reaching its thread to the 101.',
        (s) => [[NO_LABELS, s.stats.traffic.handshakeSeconds]], current),
      histogramMetric('wasmsocket_event_loop_delay_seconds', 'How late each thread\'s event loop ran a 20 ms timer (sampled while metrics are served).',
        (s) => {
          const threads: [Labels, BucketCounts][] = [];
          if (s.mainEventLoopDelay !== null) threads.push([{ thread: 'main' }, s.mainEventLoopDelay]);
          s.stats.workers.forEach((worker, index) => {
            if (worker?.eventLoopDelay != null) threads.push([{ thread: `worker${index}` }, worker.eventLoopDelay]);
          });
          return threads;
        }, current),
    ];
    for (const histogram of histograms) this.registry.registerMetric(histogram as unknown as Metric<string>);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** One scrape: the node's figures now, as Prometheus text. */
  async render(): Promise<string> {
    const snapshot = await this.#snapshot();
    this.#carried.carry(snapshot.stats);
    this.#current = snapshot;
    // Every metric's collect() runs in this call, before it first awaits: all read this snapshot.
    return this.registry.metrics();
  }
}
