/**
 * AppConnection runs one WebSocket connection's protocol state machine and its application
 * handlers. It knows nothing of sockets or threads: below it is a `Transport` (in the server,
 * the socket and the broker of the thread that owns it; in tests, whatever the test gives).
 */
import type { FrameCodec } from '../codec/codec.js';
import { WebSocketProtocol, ReadyState, type ProtocolSink, type Utf8ValidatorChoice } from '../protocol/protocol.js';
import { CloseCode, isValidWireCloseCode } from '../protocol/close-codes.js';
import type { PerMessageDeflateConfig } from '../protocol/compression.js';
import type { InflateBudget } from '../protocol/inflate-budget.js';
import type { Application, Connection, MessagePublishOptions, PubSubRefusal, SubscribeOptions, UpgradeRequest } from './app.js';
import type { JoinAnswer, PublishOptions } from '../pubsub/broker.js';
import type { HistoryQuery, HistoryReply, StreamPosition } from '../pubsub/history.js';
import { topicError } from '../pubsub/topics.js';
import type { TopicPermissions } from '../pubsub/permissions.js';

/** What a connection needs from whatever carries its bytes. */
export interface Transport {
  /** Queues bytes for the socket; a frame may come as header and payload. */
  write(first: Uint8Array, second?: Uint8Array): void;
  /** Closes TCP now: the close handshake is over or the connection failed (server closes first). */
  end(): void;
  /** Our close frame is out: bound the wait for the peer's answer. */
  closing(): void;
  /** Drops TCP now, without a closing handshake. */
  terminate(): void;
  /** Stop reading from the socket (a message is being inflated off the event loop) / read again. */
  pauseInput(): void;
  resumeInput(): void;
  /** Bytes queued for the socket and not yet written, as far as this side knows. */
  readonly bufferedAmount: number;
  /** The queue is over its high-water mark: the peer is not keeping up; drain() follows. */
  readonly backpressured: boolean;
  /** Pub/sub goes to this thread's broker; patterns and topics are already valid and allowed. */
  subscribe(pattern: string): PubSubRefusal | undefined;
  unsubscribe(pattern: string): void;
  publish(topic: string, payload: Uint8Array, isBinary: boolean, options?: TransportPublishOptions): void;
  /** Subscribes to an exact topic and joins its history (see Broker.join). */
  join(topic: string, recover: StreamPosition | undefined, answer: (joined: JoinAnswer) => void): PubSubRefusal | undefined;
  history(topic: string, query: HistoryQuery, done: (reply: HistoryReply | undefined) => void): void;
  presence(topic: string, done: (count: number) => void): void;
}

/** A publish's options as the connection gives them: `self: false` leaves the connection out. */
export type TransportPublishOptions = Omit<PublishOptions, 'except'> & { self?: boolean };

export interface AppConnectionOptions {
  id: number;
  subprotocol: string | undefined;
  request: UpgradeRequest;
  data?: unknown;
  maxPayload: number;
  utf8Validator?: Utf8ValidatorChoice;
  /** permessage-deflate, when the handshake agreed on it. */
  deflate?: PerMessageDeflateConfig;
  onError?: (error: Error, conn: Connection) => void;
  /** Who may subscribe and publish to what; everything is allowed without. */
  permissions?: TopicPermissions<Connection>;
  /** Asked after each frame: true when this turn's work is done (see ProtocolSink.shouldYield). */
  shouldYield?: () => boolean;
  /** The thread's bound on inflated output held at once (see ProtocolOptions.inflateBudget). */
  inflateBudget?: InflateBudget;
}

export class AppConnection implements Connection {
  readonly id: number;
  readonly protocol: string | undefined;
  readonly request: UpgradeRequest;
  data: unknown;
  /** A data message arrived since the heartbeat sweep last looked (it resets this). */
  receivedMessage = false;
  readonly #app: Application;
  readonly #transport: Transport;
  readonly #machine: WebSocketProtocol;
  readonly #onError: AppConnectionOptions['onError'];
  readonly #permissions: AppConnectionOptions['permissions'];
  #finished = false;
  /** Set while the protocol waits for the send queue to drain before handling more frames. */
  #resumeOnDrain: (() => void) | undefined;

  constructor(codec: FrameCodec, app: Application, transport: Transport, options: AppConnectionOptions) {
    this.id = options.id;
    this.protocol = options.subprotocol;
    this.request = options.request;
    this.data = options.data;
    this.#app = app;
    this.#transport = transport;
    this.#onError = options.onError;
    this.#permissions = options.permissions;
    this.#machine = new WebSocketProtocol(codec, new ConnectionSink(this, transport, options.shouldYield), {
      role: 'server', maxPayload: options.maxPayload, utf8Validator: options.utf8Validator, deflate: options.deflate,
      inflateBudget: options.inflateBudget,
    });
  }

  /** @internal A message from the protocol: the application's handler, called without a closure. */
  deliver(data: Buffer, isBinary: boolean): void {
    this.receivedMessage = true;
    const app = this.#app;
    if (app.message === undefined) return;
    try {
      const result = app.message(this, data, isBinary);
      if (result !== undefined) this.#watch(result);
    } catch (error) {
      this.#handlerFailed(asError(error));
    }
  }

  get bufferedAmount(): number {
    return this.#transport.bufferedAmount;
  }

  get finished(): boolean {
    return this.#finished;
  }

  /** Runs `open`, then feeds the bytes that arrived with the upgrade request. */
  start(head: Uint8Array): void {
    this.#runHandler(() => this.#app.open?.(this));
    if (head.length > 0) this.receive(head);
  }

  receive(chunk: Uint8Array): void {
    if (!this.#finished) this.#machine.receive(chunk);
  }

  send(data: string | Uint8Array, isBinary?: boolean): boolean {
    return this.#machine.send(data, isBinary);
  }

  close(code: number = CloseCode.NORMAL, reason = ''): void {
    // RFC 6455 §7.4: only defined codes (and 3000-4999) may go on the wire; 1005, 1006, 1015 never.
    if (!Number.isInteger(code) || !isValidWireCloseCode(code)) {
      throw new RangeError(`close code ${code} may not be sent (RFC 6455 §7.4: 1000-1003, 1007-1014, 3000-4999)`);
    }
    if (this.#machine.readyState !== ReadyState.OPEN) return;
    this.#machine.close(code, reason);
    this.#transport.closing();
  }

  ping(data?: Uint8Array): void {
    this.#machine.ping(data);
  }

  terminate(): void {
    this.#transport.terminate();
  }

  subscribe(pattern: string, options?: SubscribeOptions): PubSubRefusal | undefined {
    const error = topicError(pattern, true);
    if (error !== undefined) throw new TypeError(`invalid topic pattern "${pattern}": ${error}`);
    if (options?.recover !== undefined && topicError(pattern, false) !== undefined) {
      throw new TypeError(`recover needs an exact topic, not the pattern "${pattern}"`);
    }
    if (this.#finished) return undefined;
    const refusal = this.#permissions?.subscribe(this, pattern);
    if (refusal !== undefined) return refusal;
    if (options === undefined) return this.#transport.subscribe(pattern);
    const onSubscribed = options.onSubscribed;
    if (topicError(pattern, false) !== undefined) {
      // A pattern has no single position: subscribed live only.
      const refused = this.#transport.subscribe(pattern);
      if (refused === undefined) onSubscribed?.({});
      return refused;
    }
    return this.#transport.join(pattern, options.recover, (joined) => {
      if (!this.#finished) onSubscribed?.(joined);
    });
  }

  unsubscribe(pattern: string): void {
    if (!this.#finished) this.#transport.unsubscribe(pattern);
  }

  publish(topic: string, data: string | Uint8Array, isBinary?: boolean): PubSubRefusal | undefined {
    const error = topicError(topic, false);
    if (error !== undefined) throw new TypeError(`invalid topic "${topic}": ${error}`);
    const refusal = this.#permissions?.publish(this, topic);
    if (refusal !== undefined) return refusal;
    if (typeof data === 'string') this.#transport.publish(topic, Buffer.from(data, 'utf8'), isBinary === true);
    else this.#transport.publish(topic, data, isBinary !== false);
    return undefined;
  }

  publishMessage(topic: string, data: unknown, options?: MessagePublishOptions): PubSubRefusal | undefined {
    const error = topicError(topic, false);
    if (error !== undefined) throw new TypeError(`invalid topic "${topic}": ${error}`);
    const refusal = this.#permissions?.publish(this, topic);
    if (refusal !== undefined) return refusal;
    const message = Buffer.from(messageEnvelope(topic, data), 'utf8');
    const onPublished = options?.onPublished;
    this.#transport.publish(topic, message, false, {
      history: true,
      self: options?.self,
      onPublished: onPublished === undefined ? undefined : (position) => {
        if (!this.#finished) onPublished(position);
      },
    });
    return undefined;
  }

  history(topic: string, query: HistoryQuery = {}): Promise<HistoryReply | undefined> {
    const error = topicError(topic, false);
    if (error !== undefined) throw new TypeError(`invalid topic "${topic}": ${error}`);
    return new Promise((resolve) => this.#transport.history(topic, query, resolve));
  }

  presence(topic: string): Promise<number> {
    const error = topicError(topic, false);
    if (error !== undefined) throw new TypeError(`invalid topic "${topic}": ${error}`);
    return new Promise((resolve) => this.#transport.presence(topic, resolve));
  }

  /** The socket's write buffer drained below its high-water mark. */
  drain(): void {
    if (this.#finished) return;
    // Frames that waited for the peer to read its replies are handled first, in order.
    const resume = this.#resumeOnDrain;
    this.#resumeOnDrain = undefined;
    resume?.();
    this.#runHandler(() => this.#app.drain?.(this));
  }

  /** @internal The protocol stopped while the peer was not reading: go on once it drains. */
  resumeOnDrain(resume: () => void): void {
    this.#resumeOnDrain = resume;
  }

  /** The TCP connection is gone: tells the application once, with the code the peer sent. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#machine.receiveEnd();
    const { closeCode, closeReason } = this.#machine;
    this.#runHandler(() => this.#app.close?.(this, closeCode, closeReason));
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
    this.#onError?.(error, this);
    this.close(CloseCode.INTERNAL_ERROR, 'internal error');
  }
}

/** The pub/sub delivery of `data` on `topic`: serialized once here, framed once per thread. */
export function messageEnvelope(topic: string, data: unknown): string {
  return `{"type":"message","topic":${JSON.stringify(topic)},"data":${JSON.stringify(data)}}`;
}

/** What a handler threw or rejected with, as an Error (a stack for the log). */
function asError(caught: unknown): Error {
  return caught instanceof Error ? caught : new Error(`handler failed with a non-error: ${String(caught)}`);
}

/**
 * The protocol's sink for one connection: methods on a prototype, not six closures per
 * connection (idle connections are what a server's memory is made of).
 */
class ConnectionSink implements ProtocolSink {
  constructor(readonly connection: AppConnection, readonly transport: Transport, readonly turnSpent: (() => boolean) | undefined) {}

  /**
   * Stop after this frame when the turn's budget is spent, or when the replies so far have
   * filled the send queue: one read can hold hundreds of requests, and reading has already
   * stopped, so handling them all would queue their replies past any bound.
   */
  shouldYield(): boolean {
    return this.transport.backpressured || (this.turnSpent?.() ?? false);
  }

  scheduleResume(resume: () => void): void {
    if (this.transport.backpressured) this.connection.resumeOnDrain(resume);
    else setImmediate(resume);
  }

  message(data: Buffer, isBinary: boolean): void { this.connection.deliver(data, isBinary); }
  write(first: Uint8Array, second?: Uint8Array): void { this.transport.write(first, second); }
  closeTransport(): void { this.transport.end(); }
  pauseInput(): void { this.transport.pauseInput(); }
  resumeInput(): void { this.transport.resumeInput(); }
}
