/**
 * Where a node's connections are served, chosen once when the server is made: on this thread
 * (`workers: 0`, InlinePlacement) or by a pool of workers that each own theirs (PoolPlacement).
 * The server speaks to either through this interface and never asks which one it has.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { ThreadStats } from './connection-server.js';
import type { TlsCertificate } from './certificate.js';
import type { HistoryQuery, HistoryReply, StreamPosition } from '../pubsub/history.js';

/** The counters a placement has to give, before the server sums them over the node. */
export interface PlacementStats {
  /** The connection server on this thread: inline, or with workers once handleUpgrade() made one. */
  local: ThreadStats | undefined;
  /** Each worker's counters (undefined: down or not answering); empty inline. */
  workers: (ThreadStats | undefined)[];
  /** Publishes that entered the node through the main thread's relay (worker mode). */
  relayed?: { published: number; received: number };
  /** Workers replaced, and why (worker mode). */
  pool?: { restarts: number; stuck: number; overMemory: number };
}

export interface Placement {
  /** Resolves once sockets can be handed over (every worker started, or failed its first start). */
  readonly started: Promise<void>;
  /** Sockets per worker, handed out and not closed yet (empty inline). */
  readonly loads: number[];
  /** Takes a freshly accepted socket, nothing read from it yet; false, the socket untouched, when none can. */
  adopt(socket: Socket, id: number): boolean;
  /** Serves a socket whose upgrade request another HTTP server read: always on this thread. */
  handleUpgrade(request: IncomingMessage, socket: Socket, head: Buffer, id: number): void;
  /** `server.publish()`: every subscriber of the node, and the other nodes. */
  publish(topic: string, payload: Uint8Array, isBinary: boolean): void;
  /** A publish from another node, for this node's subscribers; `offset` when its topic keeps history. */
  fromBackplane(topic: string, payload: Uint8Array, isBinary: boolean, offset?: number): void;
  /** `server.publishMessage()`: a pub/sub message kept in the topic's history; its position once assigned. */
  publishMessage(topic: string, message: Uint8Array): Promise<StreamPosition | undefined>;
  /** `server.history()`: undefined when the node keeps no history. */
  history(topic: string, query: HistoryQuery): Promise<HistoryReply | undefined>;
  /** Subscriptions to exactly `topic` on this node's threads, and on the other nodes when `otherNodes`. */
  presence(topic: string, otherNodes: boolean): Promise<number>;
  /** New TLS connections, on every thread, use this certificate from now on. */
  setCertificate(certificate: TlsCertificate): void;
  stats(): Promise<PlacementStats>;
  /** Closes every connection with `code`, waiting at most `timeoutMs`, then stops the workers. */
  close(code: number, reason: string, timeoutMs: number): Promise<void>;
}
