/**
 * What one thread's connections have carried, for /metrics: messages and bytes each way, and
 * handshakes with their duration. Kept in module state (each worker thread loads its own copy
 * of this module): the hot path adds to a number and does nothing else; the counts are read
 * when the node is scraped (ConnectionServer.stats()).
 */
import { addBucketCounts, copyBucketCounts, createBucketCounts, observe, type BucketCounts } from './bucket-counts.js';

/** Upper bounds of the handshake-duration buckets, seconds. */
export const HANDSHAKE_SECONDS_BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** Incremented in place on the hot path. */
export const traffic = {
  /** Data messages handed to the application. */
  messagesIn: 0,
  /** Data messages the application sent to one connection (broadcast deliveries are counted by the broker). */
  messagesOut: 0,
  /** Bytes read from upgraded connections (frames, TLS records decrypted). */
  bytesIn: 0,
  /** Bytes queued for upgraded connections, broadcast frames once per subscriber. */
  bytesOut: 0,
};

const handshakeSeconds = createBucketCounts(HANDSHAKE_SECONDS_BOUNDS);
/** Handshakes refused, by HTTP status. */
const handshakeRefusals: Record<string, number> = {};

export interface TrafficStats {
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Handshakes answered 101, and how long each took from the socket's arrival on its thread. */
  handshakeSeconds: BucketCounts;
  /** Upgrade requests refused, by HTTP status. */
  handshakeRefusals: Record<string, number>;
}

/** A handshake answered 101, `seconds` after its socket reached this thread. */
export function noteHandshake(seconds: number): void {
  observe(handshakeSeconds, seconds);
}

export function noteHandshakeRefused(status: number): void {
  handshakeRefusals[status] = (handshakeRefusals[status] ?? 0) + 1;
}

/** No traffic yet: what threads' stats are summed into. */
export function emptyTrafficStats(): TrafficStats {
  return { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, handshakeSeconds: createBucketCounts(HANDSHAKE_SECONDS_BOUNDS), handshakeRefusals: {} };
}

/** Adds one thread's traffic to a sum. */
export function addTrafficStats(into: TrafficStats, from: TrafficStats): void {
  into.messagesIn += from.messagesIn;
  into.messagesOut += from.messagesOut;
  into.bytesIn += from.bytesIn;
  into.bytesOut += from.bytesOut;
  addBucketCounts(into.handshakeSeconds, from.handshakeSeconds);
  for (const [status, count] of Object.entries(from.handshakeRefusals)) {
    into.handshakeRefusals[status] = (into.handshakeRefusals[status] ?? 0) + count;
  }
}

export function trafficStats(): TrafficStats {
  return { ...traffic, handshakeSeconds: copyBucketCounts(handshakeSeconds), handshakeRefusals: { ...handshakeRefusals } };
}
