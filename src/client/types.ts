/**
 * The types of `wasmsocket/client`. Type declarations only: nothing here exists at run time, so
 * the client stays one module that a page imports from `/client.js` without a bundler.
 */

/** `connecting` until the first open; `reconnecting` after a loss; `closed` after `close()`. */
export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/**
 * The part of the WHATWG `WebSocket` the client uses (the browser's, Node's global one, or `ws`).
 * The handlers take `any`: each implementation types its events its own way (DOM `MessageEvent`,
 * `ws`'s `MessageEvent`), and a handler property is compared strictly.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ConnectOptions {
  /**
   * Sent as the `token` query parameter of every connection attempt. A function is called again
   * before each attempt (a fresh or refreshed token); it may return a Promise.
   */
  token?: string | (() => string | Promise<string>);
  /** First reconnect delay, and the least any is (ms). Default 500. */
  minReconnectDelayMs?: number;
  /** The most any reconnect delay is (ms). Default 10 000. */
  maxReconnectDelayMs?: number;
  /** An attempt that has not opened in this time is given up (ms). Default 10 000. */
  connectTimeoutMs?: number;
  /** After this long without a message from the server, ask it for one (ms); 0: never. Default 25 000. */
  pingIntervalMs?: number;
  /** A server that answers nothing this long after being asked is left (ms). Default 10 000. */
  pingTimeoutMs?: number;
  /** A request (publish, history, presence) sent and unanswered this long is rejected (ms). Default 10 000. */
  requestTimeoutMs?: number;
  /** Requests made while not connected that wait for the next connection; more are rejected. Default 1 000. */
  maxQueued?: number;
  /** The WebSocket class; default the global `WebSocket` (browsers, Node ≥ 22). */
  WebSocket?: WebSocketConstructor;
}

/** Where a subscriber stands in a topic's history. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

export interface MessageInfo {
  /** The topic the message was published to (a subscription to a pattern sees many). */
  topic: string;
  /** Its offset, on a topic that keeps history. */
  offset?: number;
}

export type MessageHandler = (data: unknown, info: MessageInfo) => void;

export interface SubscribeOptions {
  /** Resubscribe from the last offset and epoch after a reconnect. Default true. */
  recover?: boolean;
  /**
   * Start after this position (one an earlier client kept: `subscription.position`, saved),
   * recovering what was published since, as after a reconnect. An exact topic only.
   */
  position?: StreamPosition;
}

/** What the server answered to a subscribe: the position to start from and whether it was recovered. */
export interface SubscribedEvent {
  offset?: number;
  epoch?: string;
  recovered: boolean;
  /** How many missed messages the server replays next (recovered:true only). */
  replayed: number;
}

/**
 * Why messages may have been missed: `server` (the position was not recoverable: another epoch,
 * older than the history, no history), `pattern` (wildcard subscriptions are not recovered),
 * `no_position` (the topic keeps no history, or `recover: false`), `gap` (offsets skipped or went
 * back while connected; the client resubscribes from its last offset first, and this fires only
 * when that fails too).
 */
export interface UnrecoveredEvent {
  reason: 'server' | 'pattern' | 'no_position' | 'gap';
  /** The position the subscription goes on from, on a topic that keeps history. */
  offset?: number;
  epoch?: string;
}

export interface SubscriptionEvents {
  subscribed: SubscribedEvent;
  unrecovered: UnrecoveredEvent;
  /** The server refused the subscription (`forbidden`, `bad_topic`…): it is over. */
  error: Error;
}

export interface Subscription {
  readonly topic: string;
  /** The last offset delivered and its epoch, on a topic that keeps history. */
  readonly position: StreamPosition | undefined;
  on<E extends keyof SubscriptionEvents>(event: E, listener: (value: SubscriptionEvents[E]) => void): () => void;
  unsubscribe(): void;
}

export interface ClientEvents {
  state: ClientState;
  /** A problem with no request to reject: an unsolicited server error, a token function that failed. */
  error: Error;
}

export interface PublishOptions {
  /** false: not delivered back to this client. Default true. */
  self?: boolean;
}

export interface HistoryOptions {
  /** The newest `limit` messages (or the first `limit` after `since`). */
  limit?: number;
  since?: StreamPosition;
}

export interface HistoryMessage {
  offset: number;
  data: unknown;
}

export interface History {
  offset: number;
  epoch: string;
  messages: HistoryMessage[];
}
