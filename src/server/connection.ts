/**
 * One WebSocket connection on the thread that owns its socket: the object the application sees
 * (`conn`), the broker's subscriber and the send budget's connection. It owns its socket link
 * and its protocol state machine: frames go from the protocol straight to the link, reads come
 * from the link to the protocol through here, and the pacing is here too. The protocol stops
 * where it is asked (this thread's turn budget is spent, or the peer is not reading its replies)
 * or at a message inflated off the event loop; the connection then holds its reads and decides
 * when processing goes on: next turn, once the socket drains, or once the message is inflated.
 */
import type { Socket } from 'node:net';
import type { FrameCodec } from '../codec/codec.js';
import { WebSocketProtocol, ReadyState, type ProtocolSink, type Utf8ValidatorChoice } from '../protocol/protocol.js';
import { CloseCode, isValidWireCloseCode } from '../protocol/close-codes.js';
import type { NegotiatedDeflate } from '../protocol/compression.js';
import type { InflateBudget } from '../protocol/inflate-budget.js';
import type { SharedFrame } from '../protocol/shared-frame.js';
import type { DeflateSettings } from '../extensions/deflate-options.js';
import type { Application, Connection as ApplicationConnection, MessagePublishOptions, SubscribeOptions, UpgradeRequest } from '../apps/app.js';
import type { Broker, PubSubRefusal, Subscriber, SubscriberDeflate } from '../pubsub/broker.js';
import { messageEnvelope, type HistoryQuery, type HistoryReply } from '../pubsub/history.js';
import { topicError } from '../pubsub/topics.js';
import type { TopicPermissions } from '../pubsub/permissions.js';
import { SocketLink, type LinkOwner, type SocketLinkOptions } from './socket-io.js';
import type { BudgetedConnection, SendBudget } from './send-budget.js';
import { turnBudgetSpent } from './turn-budget.js';
import { traffic } from '../metrics/thread-traffic.js';
import { isLent } from '../codec/lent-memory.js';

/** What every connection of one connection server shares: made once per server, not per connection. */
export interface ConnectionHost {
  readonly app: Application;
  readonly codec: FrameCodec;
  readonly broker: Broker;
  /** Who may subscribe and publish to what; everything is allowed without. */
  readonly permissions?: TopicPermissions<ApplicationConnection>;
  readonly linkOptions: SocketLinkOptions;
  readonly budget: SendBudget;
  readonly maxPayload: number;
  readonly utf8Validator: Utf8ValidatorChoice;
  /** Message handlers get views valid only during the call (ProtocolOptions.messageView). */
  readonly messageView?: boolean;
  /** The server's compression settings; a connection compresses when its handshake agreed on it. */
  readonly compressor: DeflateSettings | undefined;
  /** The thread's bound on inflated output held at once (see ProtocolOptions.inflateBudget). */
  readonly inflateBudget?: InflateBudget;
  /** An application handler threw or its promise rejected; the connection is closing with 1011. */
  handlerFailed(error: Error, conn: Connection): void;
  /** The connection's TCP connection is closed: forget it. */
  connectionClosed(conn: Connection): void;
}

/** What the opening handshake settled for one connection. */
export interface ConnectionStart {
  /** Unique within the server process. */
  id: number;
  request: UpgradeRequest;
  subprotocol: string | undefined;
  /** What the `upgrade` or `authorize` hook gave as `{ data }`. */
  data: unknown;
  /** permessage-deflate as the handshake agreed on it (RFC 7692); undefined: none. */
  negotiated: NegotiatedDeflate | undefined;
  /**
   * The link's close is the one the node is told of (a plain socket); false when the socket
   * under it reports it (TLS).
   */
  reportsClose: boolean;
  /** sweepClock() now: the heartbeat sweep's view of the connection starts here. */
  now: number;
}

/**
 * The heartbeat sweep's clock: ms since this thread loaded the module (from 1, so that 0 can
 * mean "never"). Small integers, unlike Date.now(), fit a field without a heap number of their
 * own (for the first 24 days; later they still work, at 16 bytes more each).
 */
export function sweepClock(): number {
  return Date.now() - CLOCK_ORIGIN;
}

const CLOCK_ORIGIN = Date.now() - 1;

// Connection's #state bits. An idle connection's memory is mostly its objects' fields.
/** The TCP connection is closed and the application told: no handler runs any more. */
const FINISHED = 1;
/** The protocol stopped while the peer was not reading: processing goes on when the socket drains. */
const PROCEED_ON_DRAIN = 2;
/** See ConnectionStart.reportsClose. */
const REPORTS_CLOSE = 4;
/** A data message arrived since the heartbeat sweep last looked. */
const RECEIVED_MESSAGE = 8;

export class Connection implements ApplicationConnection, Subscriber, BudgetedConnection, LinkOwner, ProtocolSink {
  readonly id: number;
  /** The negotiated subprotocol. */
  readonly protocol: string | undefined;
  readonly request: UpgradeRequest;
  data: unknown;
  readonly link: SocketLink;
  /** How the broker delivers a compressed publish to it (see Subscriber.deflate). */
  readonly deflate: SubscriberDeflate | undefined;
  /** The heartbeat sweep's view, in sweepClock() ms: when bytes or a data message last came. */
  heardAt: number;
  messageAt: number;
  /** When the sweep pinged this silent connection; 0 while it is not waiting for an answer. */
  pingedAt = 0;
  readonly #host: ConnectionHost;
  readonly #machine: WebSocketProtocol;
  /** Read at the first subscribe, and kept: the broker counts by it until the connection is gone. */
  #address: string | undefined;
  #state = 0;

  constructor(host: ConnectionHost, socket: Socket, start: ConnectionStart) {
    this.id = start.id;
    this.protocol = start.subprotocol;
    this.request = start.request;
    this.data = start.data;
    if (start.reportsClose) this.#state |= REPORTS_CLOSE;
    this.heardAt = start.now;
    this.messageAt = start.now;
    this.#host = host;
    this.link = new SocketLink(socket, host.linkOptions, this);
    const { negotiated } = start;
    const compressor = host.compressor;
    // RFC 7692 §7.1.1.1: without server context takeover every message is compressed alone, so
    // one compressed frame serves every such subscriber with the same window size.
    if (negotiated !== undefined) {
      const { send } = negotiated;
      this.deflate = send.noContextTakeover ? { kind: 'shared', windowBits: send.windowBits } : { kind: 'own' };
    }
    this.#machine = new WebSocketProtocol(host.codec, this, {
      role: 'server', maxPayload: host.maxPayload, utf8Validator: host.utf8Validator, inflateBudget: host.inflateBudget,
      messageView: host.messageView,
      deflate: negotiated === undefined || compressor === undefined ? undefined : { negotiated, compressor },
    }, this.link);
  }

  /** See ConnectionStart.reportsClose. */
  get reportsClose(): boolean {
    return (this.#state & REPORTS_CLOSE) !== 0;
  }

  /** A data message arrived since the heartbeat sweep last looked (the sweep resets this). */
  get receivedMessage(): boolean {
    return (this.#state & RECEIVED_MESSAGE) !== 0;
  }

  set receivedMessage(received: boolean) {
    if (received) this.#state |= RECEIVED_MESSAGE;
    else this.#state &= ~RECEIVED_MESSAGE;
  }

  // What the application sees (apps/app.ts's Connection).

  get bufferedAmount(): number {
    return this.link.bufferedAmount;
  }

  send(data: string | Uint8Array, isBinary?: boolean): boolean {
    traffic.messagesOut++;
    return this.#machine.send(data, isBinary);
  }

  close(code: number = CloseCode.NORMAL, reason = ''): void {
    // RFC 6455 §7.4: only defined codes (and 3000-4999) may go on the wire; 1005, 1006, 1015 never.
    if (!Number.isInteger(code) || !isValidWireCloseCode(code)) {
      throw new RangeError(`close code ${code} may not be sent (RFC 6455 §7.4: 1000-1003, 1007-1014, 3000-4999)`);
    }
    if (this.#machine.readyState !== ReadyState.OPEN) return;
    this.#machine.close(code, reason);
    // Our close frame is out: the wait for the peer's answer is bounded.
    this.link.closing();
  }

  ping(data?: Uint8Array): void {
    this.#machine.ping(data);
  }

  terminate(): void {
    this.link.terminate();
  }

  subscribe(pattern: string, options?: SubscribeOptions): PubSubRefusal | undefined {
    const error = topicError(pattern, true);
    if (error !== undefined) throw new TypeError(`invalid topic pattern "${pattern}": ${error}`);
    const exact = topicError(pattern, false) === undefined;
    if (options?.recover !== undefined && !exact) throw new TypeError(`recover needs an exact topic, not the pattern "${pattern}"`);
    if ((this.#state & FINISHED) !== 0) return undefined;
    const refusal = this.#host.permissions?.subscribe(this, pattern);
    if (refusal !== undefined) return refusal;
    const broker = this.#host.broker;
    if (options === undefined) return broker.subscribe(pattern, this);
    const onSubscribed = options.onSubscribed;
    if (!exact) {
      // A pattern has no single position: subscribed live only.
      const refused = broker.subscribe(pattern, this);
      if (refused === undefined) onSubscribed?.({});
      return refused;
    }
    return broker.join(pattern, this, options.recover, (joined) => {
      if ((this.#state & FINISHED) === 0) onSubscribed?.(joined);
    });
  }

  unsubscribe(pattern: string): void {
    if ((this.#state & FINISHED) === 0) this.#host.broker.unsubscribe(pattern, this);
  }

  publish(topic: string, data: string | Uint8Array, isBinary?: boolean): PubSubRefusal | undefined {
    const error = topicError(topic, false);
    if (error !== undefined) throw new TypeError(`invalid topic "${topic}": ${error}`);
    const refusal = this.#host.permissions?.publish(this, topic);
    if (refusal !== undefined) return refusal;
    if (typeof data === 'string') this.#host.broker.publish(topic, Buffer.from(data, 'utf8'), isBinary === true);
    // The broker keeps what it publishes (history, the backplane, queues): a message view is copied.
    else this.#host.broker.publish(topic, isLent(data) ? Buffer.from(data) : data, isBinary !== false);
    return undefined;
  }

  publishMessage(topic: string, data: unknown, options?: MessagePublishOptions): PubSubRefusal | undefined {
    const error = topicError(topic, false);
    if (error !== undefined) throw new TypeError(`invalid topic "${topic}": ${error}`);
    const refusal = this.#host.permissions?.publish(this, topic);
    if (refusal !== undefined) return refusal;
    const onPublished = options?.onPublished;
    this.#host.broker.publish(topic, Buffer.from(messageEnvelope(topic, data), 'utf8'), false, {
      history: true,
      except: options?.self === false ? this : undefined,
      onPublished: onPublished === undefined ? undefined : (position) => {
        if ((this.#state & FINISHED) === 0) onPublished(position);
      },
    });
    return undefined;
  }

  history(topic: string, query: HistoryQuery = {}): Promise<HistoryReply | undefined> {
    const error = topicError(topic, false);
    if (error !== undefined) throw new TypeError(`invalid topic "${topic}": ${error}`);
    return new Promise((resolve) => this.#host.broker.history(topic, query, resolve));
  }

  presence(topic: string): Promise<number> {
    const error = topicError(topic, false);
    if (error !== undefined) throw new TypeError(`invalid topic "${topic}": ${error}`);
    return new Promise((resolve) => this.#host.broker.presence(topic, resolve));
  }

  /** Runs `open`, then feeds the bytes that arrived with the upgrade request, then reads the socket. */
  start(head: Uint8Array): void {
    this.link.startReading(this.#host.codec.readArea());
    this.#runHandler(() => this.#host.app.open?.(this));
    // Bytes that came in the same packet as the request are the connection's first input.
    if (head.length > 0) this.receive(head);
  }

  // The socket link's events (LinkOwner).

  receive(chunk: Uint8Array): void {
    if ((this.#state & FINISHED) !== 0) return;
    const machine = this.#machine;
    // A read that starts past the turn's budget handles one frame and waits for the next turn:
    // a message of millions of frames is otherwise read without a pause (no message ends).
    if (this.link.backpressured || turnBudgetSpent()) machine.yieldAfterFrame();
    if (!machine.receive(chunk)) this.#stopped();
  }

  drain(): void {
    if ((this.#state & FINISHED) !== 0) return;
    // Frames that waited for the peer to read its replies are handled first, in order.
    if ((this.#state & PROCEED_ON_DRAIN) !== 0) {
      this.#state &= ~PROCEED_ON_DRAIN;
      this.#proceed();
    }
    this.#runHandler(() => this.#host.app.drain?.(this));
  }

  linkBackpressured(): void {
    // One read can hold hundreds of requests, and reading has already stopped: handling them
    // all would queue their replies past any bound.
    this.#machine.yieldAfterFrame();
  }

  linkOverflowed(): void {
    this.#host.budget.overflowed(this);
  }

  linkClosed(): void {
    this.#finish();
    this.#host.connectionClosed(this);
  }

  // The protocol's events (ProtocolSink).

  message(data: Buffer, isBinary: boolean): void {
    this.#state |= RECEIVED_MESSAGE;
    traffic.messagesIn++;
    const app = this.#host.app;
    if (app.message !== undefined) {
      try {
        const result = app.message(this, data, isBinary);
        if (result !== undefined) this.#watch(result);
      } catch (error) {
        this.#handlerFailed(asError(error));
      }
    }
    // What a message's handler fans out is bounded per turn (the thread's budget), and for history
    // publishes, whose fan-out waits for their offsets, by how many wait.
    if (turnBudgetSpent() || this.#host.broker.offsetsBacklogged) this.#machine.yieldAfterFrame();
  }

  inflated(): void {
    this.#proceed();
  }

  closeTransport(): void {
    this.link.end();
  }

  /** Processing stopped with input left: read nothing more until it goes on. */
  #stopped(): void {
    this.link.holdInput();
    if (this.#machine.isInflating) return; // inflated() goes on
    if (this.link.backpressured) this.#state |= PROCEED_ON_DRAIN;
    else setImmediate(Connection.#proceedNextTurn, this);
  }

  #proceed(): void {
    if ((this.#state & FINISHED) !== 0) return;
    if (this.link.backpressured) this.#machine.yieldAfterFrame();
    if (this.#machine.proceed()) this.link.releaseInput();
    else this.#stopped();
  }

  /** setImmediate's callback, one for every connection (no closure per connection). */
  static #proceedNextTurn(conn: Connection): void {
    conn.#proceed();
  }

  // The broker's subscriber and the send budget's connection.

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

  deliver(frame: SharedFrame): void {
    if (this.link.holdForTurn()) this.link.writeShared(frame);
  }

  deliverCompressing(payload: Uint8Array, isBinary: boolean): void {
    if (this.link.holdForTurn()) this.#machine.send(payload, isBinary);
  }

  closeAsTooSlow(): void {
    this.close(CloseCode.TRY_AGAIN_LATER, 'subscriber too slow');
  }

  drop(): void {
    this.link.terminate();
  }

  settleWrites(): void {
    this.link.settleWrites();
  }

  /** Tells the application once, with the code the peer sent. */
  #finish(): void {
    if ((this.#state & FINISHED) !== 0) return;
    this.#state |= FINISHED;
    const machine = this.#machine;
    machine.receiveEnd();
    const { closeCode, closeReason } = machine;
    this.#runHandler(() => this.#host.app.close?.(this, closeCode, closeReason));
  }

  #runHandler(handler: () => unknown): void {
    try {
      const result = handler();
      if (result !== undefined) this.#watch(result);
    } catch (error) {
      this.#handlerFailed(asError(error));
    }
  }

  /**
   * A promise a handler returned belongs to this connection: its rejection is this connection's
   * failure (1011), never an unhandled rejection, which would end the worker and every connection
   * on it, or inline be logged with no connection closed.
   */
  #watch(result: unknown): void {
    // A handler typed `void` may still return anything (`() => null` is one): only a thenable is watched.
    if (result === null || typeof (result as PromiseLike<unknown>).then !== 'function') return;
    (result as PromiseLike<unknown>).then(undefined, (error: unknown) => this.#handlerFailed(asError(error)));
  }

  /** An application exception closes this connection only (1011), never the server. */
  #handlerFailed(error: Error): void {
    this.#host.handlerFailed(error, this);
    this.close(CloseCode.INTERNAL_ERROR, 'internal error');
  }
}

/** What a handler threw or rejected with, as an Error (a stack for the log). */
function asError(caught: unknown): Error {
  return caught instanceof Error ? caught : new Error(`handler failed with a non-error: ${String(caught)}`);
}
