/**
 * How a publishing node knows whether the other nodes can hear it. Redis pub/sub keeps nothing:
 * a PUBLISH reaches only the subscriptions live at that instant, and its reply (a count of
 * receivers) cannot tell "nobody wants this topic" from "the node that wants it has not
 * resubscribed yet". PUBSUB NUMSUB / NUMPAT have the same blind spot (counts, not nodes). So every
 * node announces itself on one control channel:
 *
 *   [version u8 = 1][kind u8: 1 heartbeat, 2 leaving][flags u8: bit0 subscribed, bit1 answer me]
 *   [nodeId length u8][nodeId UTF-8]
 *
 * "subscribed" means: this node's subscriber connection is up, answering PING, and Redis has
 * confirmed every SUBSCRIBE/PSUBSCRIBE it sent since that connection last (re)connected. A node
 * that lost its own link (or saw Redis stall) cannot trust what it heard before: the subscriptions
 * it was told about may have died with a restarted Redis. So it forgets every confirmation and
 * waits for each peer it knows to say "subscribed" again, through the Redis it is talking to now;
 * until then every publish it sends may not reach some node, and is counted.
 *
 * The channel is outside the `wasmsocket:` prefix, so no topic glob ever matches it.
 */

export const PRESENCE_CHANNEL = 'wasmsocket-presence';

const VERSION = 1;
const KIND_HEARTBEAT = 1;
const KIND_LEAVING = 2;
const FLAG_SUBSCRIBED = 1;
const FLAG_ANSWER = 2;
const FIXED_HEADER = 4;

export interface Heartbeat {
  nodeId: string;
  /** False: the node says goodbye (close()); forget it at once. */
  present: boolean;
  subscribed: boolean;
  /** The sender (re)joined and wants every node's heartbeat now, not at the next interval. */
  answerMe: boolean;
}

export function encodeHeartbeat(nodeId: Buffer, heartbeat: Omit<Heartbeat, 'nodeId'>): Buffer {
  const message = Buffer.allocUnsafe(FIXED_HEADER + nodeId.length);
  message[0] = VERSION;
  message[1] = heartbeat.present ? KIND_HEARTBEAT : KIND_LEAVING;
  message[2] = (heartbeat.subscribed ? FLAG_SUBSCRIBED : 0) | (heartbeat.answerMe ? FLAG_ANSWER : 0);
  message[3] = nodeId.length;
  nodeId.copy(message, FIXED_HEADER);
  return message;
}

/** The heartbeat in `message`, or undefined when it is not one (another version, cut short). */
export function decodeHeartbeat(message: Buffer): Heartbeat | undefined {
  if (message.length < FIXED_HEADER || message[0] !== VERSION) return undefined;
  const kind = message[1];
  const idLength = message[3]!;
  if ((kind !== KIND_HEARTBEAT && kind !== KIND_LEAVING) || idLength === 0 || message.length !== FIXED_HEADER + idLength) return undefined;
  return {
    nodeId: message.toString('utf8', FIXED_HEADER),
    present: kind === KIND_HEARTBEAT,
    subscribed: (message[2]! & FLAG_SUBSCRIBED) !== 0,
    answerMe: (message[2]! & FLAG_ANSWER) !== 0,
  };
}

interface Peer {
  heardAt: number;
  /** Said "subscribed" since this node's link was last interrupted. */
  confirmed: boolean;
}

/**
 * The other nodes this node has heard confirm their subscriptions, and whether each still holds.
 * A node is tracked from its first "subscribed": one that has never been subscribed was promised
 * nothing (a subscription counts from when it is live). A tracked node that falls silent may be
 * cut off from Redis: it is unconfirmed once overdue, and forgotten (taken for dead) later.
 */
export class PeerSet {
  readonly #peers = new Map<string, Peer>();
  readonly #overdueMs: number;
  readonly #forgetMs: number;

  constructor(overdueMs: number, forgetMs: number) {
    this.#overdueMs = overdueMs;
    this.#forgetMs = forgetMs;
  }

  get size(): number {
    return this.#peers.size;
  }

  /** A heartbeat from another node. */
  heard(heartbeat: Heartbeat, now: number): void {
    if (!heartbeat.present) {
      this.#peers.delete(heartbeat.nodeId);
      return;
    }
    const peer = this.#peers.get(heartbeat.nodeId);
    if (peer === undefined) {
      if (heartbeat.subscribed) this.#peers.set(heartbeat.nodeId, { heardAt: now, confirmed: true });
      return;
    }
    peer.heardAt = now;
    peer.confirmed = heartbeat.subscribed;
  }

  /** This node's own link was interrupted: what the peers said before may no longer hold. */
  invalidate(): void {
    for (const peer of this.#peers.values()) peer.confirmed = false;
  }

  /** Drops the peers silent past the forget time; returns their ids. */
  expire(now: number): string[] {
    const gone: string[] = [];
    for (const [nodeId, peer] of this.#peers) {
      if (now - peer.heardAt > this.#forgetMs) {
        this.#peers.delete(nodeId);
        gone.push(nodeId);
      }
    }
    return gone;
  }

  /** How many tracked peers are confirmed and not overdue. */
  confirmed(now: number): number {
    let confirmed = 0;
    for (const peer of this.#peers.values()) {
      if (peer.confirmed && now - peer.heardAt <= this.#overdueMs) confirmed++;
    }
    return confirmed;
  }
}
