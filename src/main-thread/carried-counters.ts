/**
 * Node-wide counters that only go up, as Prometheus wants a counter. The node's figures are the
 * sums of every thread's, and a worker's counters start from 0 again when it is replaced, or
 * are missing from a scrape it does not answer in time: summed as they are, the node's counter
 * would fall, and Prometheus would take the fall for a reset and count the survivors' whole
 * totals again as new. So a replaced worker's last counters are carried on (retired), and a
 * worker that does not answer is counted at its last answer.
 */
import { BROKER_COUNTERS } from '../pubsub/broker.js';
import { copyBucketCounts } from '../metrics/bucket-counts.js';
import { addTrafficStats } from '../metrics/thread-traffic.js';
import type { ServerStats } from './node-stats.js';
import type { ThreadStats } from '../server/connection-server.js';

/** The counters a thread's stats and the node's sums have in common. */
type Counters = Pick<ThreadStats, 'traffic' | 'pubsub' | 'buffers' | 'applicationErrors' | 'inflate' | 'idleCollections'>;

function addCounters(into: Counters, from: Counters): void {
  addTrafficStats(into.traffic, from.traffic);
  for (const key of BROKER_COUNTERS) into.pubsub[key] += from.pubsub[key];
  into.buffers.closedSendQueueFull += from.buffers.closedSendQueueFull;
  into.buffers.closedBufferLimit += from.buffers.closedBufferLimit;
  into.buffers.releasedClosing += from.buffers.releasedClosing;
  into.applicationErrors += from.applicationErrors;
  into.inflate.granted += from.inflate.granted;
  into.inflate.waited += from.inflate.waited;
  into.idleCollections.collections += from.idleCollections.collections;
  into.idleCollections.pauseMs += from.idleCollections.pauseMs;
}

/** A copy of `from`'s counters that can be added to. */
function copyCounters(from: Counters): Counters {
  return {
    traffic: { ...from.traffic, handshakeSeconds: copyBucketCounts(from.traffic.handshakeSeconds), handshakeRefusals: { ...from.traffic.handshakeRefusals } },
    pubsub: { ...from.pubsub },
    buffers: { ...from.buffers },
    applicationErrors: from.applicationErrors,
    inflate: { ...from.inflate },
    idleCollections: { ...from.idleCollections },
  };
}

export class CarriedCounters {
  /** Each worker slot's last answer. */
  readonly #last: (ThreadStats | undefined)[] = [];
  /** The counters of workers that were replaced, summed. */
  #retired: Counters | undefined;

  /**
   * `stats` (the node's sums over the threads that answered) with the counters of replaced
   * workers and of workers that did not answer added; changes `stats` and returns it.
   */
  carry(stats: ServerStats): ServerStats {
    const missing: ThreadStats[] = [];
    stats.workers.forEach((worker, slot) => {
      const last = this.#last[slot];
      if (worker === null) {
        if (last !== undefined) missing.push(last);
        return;
      }
      if (last !== undefined && last.threadId !== worker.threadId) {
        if (this.#retired === undefined) this.#retired = copyCounters(last);
        else addCounters(this.#retired, last);
      }
      this.#last[slot] = worker;
    });
    if (this.#retired !== undefined) addCounters(stats, this.#retired);
    for (const last of missing) addCounters(stats, last);
    return stats;
  }
}
