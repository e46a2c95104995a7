/**
 * A live connection as its connection server keeps it: its socket link, how to ask it to
 * close, and the broker's view of it as a subscriber.
 */
import type { AppConnection, Transport, TransportPublishOptions } from '../apps/app-connection.js';
import type { Broker, JoinAnswer, PubSubRefusal, Subscriber, SubscriberDeflate } from '../pubsub/broker.js';
import type { HistoryQuery, HistoryReply, StreamPosition } from '../pubsub/history.js';
import type { SharedFrame } from '../protocol/shared-frame.js';
import type { NegotiatedDeflate } from '../protocol/compression.js';
import { CloseCode } from '../protocol/close-codes.js';
import { SocketLink, type LinkOwner, type SocketLinkOptions } from './socket-io.js';
import type { BudgetedConnection, SendBudget } from './send-budget.js';
import type { Socket } from 'node:net';

/** What every session of one connection server shares: made once per server. */
export interface SessionHost {
  readonly linkOptions: SocketLinkOptions;
  readonly budget: SendBudget;
  /** The session's TCP connection is closed: forget it. */
  sessionClosed(session: Session): void;
}

export class Session implements Subscriber, BudgetedConnection, LinkOwner {
  readonly link: SocketLink;
  readonly deflate: SubscriberDeflate | undefined;
  /** The heartbeat sweep's view, in ms since the epoch: when bytes or a data message last came. */
  heardAt: number;
  messageAt: number;
  /** When the sweep pinged this silent connection; 0 while it is not waiting for an answer. */
  pingedAt = 0;
  #connection: AppConnection | undefined;
  readonly #host: SessionHost;
  /** Read at the first subscribe, and kept: the broker counts by it until the connection is gone. */
  #address: string | undefined;

  /**
   * @param reportsClose the link's close is the one the node is told of (a plain socket); false
   *   when the socket under it reports it (TLS)
   */
  constructor(readonly id: number, socket: Socket, readonly reportsClose: boolean, host: SessionHost, now: number, negotiated?: NegotiatedDeflate) {
    this.#host = host;
    this.link = new SocketLink(socket, host.linkOptions, this);
    this.heardAt = now;
    this.messageAt = now;
    // RFC 7692 §7.1.1.1: without server context takeover every message is compressed alone, so
    // one compressed frame serves every such subscriber with the same window size.
    if (negotiated !== undefined) {
      const { send } = negotiated;
      this.deflate = send.noContextTakeover ? { kind: 'shared', windowBits: send.windowBits } : { kind: 'own' };
    }
  }

  linkClosed(): void {
    this.#host.sessionClosed(this);
  }

  linkOverflowed(): void {
    this.#host.budget.overflowed(this);
  }

  get conn(): AppConnection {
    return this.#connection!;
  }

  attach(connection: AppConnection): void {
    this.#connection = connection;
  }

  get address(): string {
    return this.#address ??= this.link.remoteAddress;
  }

  get backlog(): number {
    return this.link.backlog;
  }

  get queued(): number {
    return this.link.bufferedAmount;
  }

  get closing(): boolean {
    return this.link.isClosing;
  }

  close(code: number, reason: string): void {
    this.#connection?.close(code, reason);
  }

  deliver(frame: SharedFrame): void {
    if (this.link.holdForTurn()) this.link.writeShared(frame);
  }

  deliverCompressing(payload: Uint8Array, isBinary: boolean): void {
    if (this.link.holdForTurn()) this.#connection?.send(payload, isBinary);
  }

  closeAsTooSlow(): void {
    this.close(CloseCode.TRY_AGAIN_LATER, 'subscriber too slow');
  }

  drop(): void {
    this.link.terminate();
  }

  terminate(): void {
    this.link.terminate();
  }

  settleWrites(): void {
    this.link.settleWrites();
  }
}

/** A connection's transport: its socket, and the broker of the thread that owns it. */
export class SessionTransport implements Transport {
  constructor(readonly session: Session, readonly broker: Broker) {}
  get bufferedAmount(): number { return this.session.link.bufferedAmount; }
  get backpressured(): boolean { return this.session.link.backpressured; }
  write(first: Uint8Array, second?: Uint8Array): void { this.session.link.write(first, second); }
  end(): void { this.session.link.end(); }
  closing(): void { this.session.link.closing(); }
  terminate(): void { this.session.link.terminate(); }
  pauseInput(): void { this.session.link.holdInput(); }
  resumeInput(): void { this.session.link.releaseInput(); }
  subscribe(pattern: string): PubSubRefusal | undefined { return this.broker.subscribe(pattern, this.session); }
  unsubscribe(pattern: string): void { this.broker.unsubscribe(pattern, this.session); }
  publish(topic: string, payload: Uint8Array, isBinary: boolean, options?: TransportPublishOptions): void {
    if (options === undefined) this.broker.publish(topic, payload, isBinary);
    else this.broker.publish(topic, payload, isBinary, { ...options, except: options.self === false ? this.session : undefined });
  }
  join(topic: string, recover: StreamPosition | undefined, answer: (joined: JoinAnswer) => void): PubSubRefusal | undefined {
    return this.broker.join(topic, this.session, recover, answer);
  }
  history(topic: string, query: HistoryQuery, done: (reply: HistoryReply | undefined) => void): void { this.broker.history(topic, query, done); }
  presence(topic: string, done: (count: number) => void): void { this.broker.presence(topic, done); }
}
