/**
 * The application contract. An application is a module whose default export implements
 * `Application`; it is loaded by name or path so that every worker can load its own copy.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { IncomingHttpHeaders } from 'node:http';
import type { PubSubRefusal } from '../pubsub/broker.js';

export type { PubSubRefusal };

/**
 * The opening handshake's request as hooks see it: plain data, the same in every mode, so that
 * it can cross from the worker that parsed it to the main thread where a hook passed to
 * `listen()` runs.
 */
export interface UpgradeRequest {
  method: string;
  /** The request target: path and query, as sent. */
  url: string;
  /** Header names in lower case, as Node's `IncomingMessage.headers`. */
  headers: IncomingHttpHeaders;
  remoteAddress: string;
  remotePort: number;
}

/**
 * Answer of an `authorize` hook or an application's `upgrade`: `true` accepts, `{ data }` accepts
 * and gives the connection `conn.data`, `false` refuses with 401, `{ status, reason }` with that
 * status. `data` must survive structured clone: in worker mode it crosses threads, and it is
 * cloned inline too so that both modes behave alike.
 */
export type AuthorizeVerdict = boolean | { status: number; reason?: string } | { data: unknown };

export type AuthorizeHook = (request: UpgradeRequest) => AuthorizeVerdict | Promise<AuthorizeVerdict>;
import type { JoinAnswer } from '../pubsub/broker.js';
import type { HistoryEntry, HistoryQuery, HistoryReply, StreamPosition } from '../pubsub/history.js';

export type { JoinAnswer, StreamPosition, HistoryQuery, HistoryReply, HistoryEntry };

export interface SubscribeOptions {
  /**
   * Recover from this position (an exact topic only): the messages after it are replayed before
   * live ones, with no gap and no duplicate, when the history still holds them.
   */
  recover?: StreamPosition;
  /**
   * Runs once the subscription is live and (for an exact topic, when the server keeps history)
   * the topic's position is known: before any replayed message is sent, so an answer sent from
   * here reaches the client first. `recovered` is present when `recover` was given.
   */
  onSubscribed?: (joined: JoinAnswer) => void;
}

export interface MessagePublishOptions {
  /** false: not delivered to this connection even if it is subscribed. */
  self?: boolean;
  /** Runs once the publish has its offset (undefined when the server keeps no history or Redis is unreachable). */
  onPublished?: (position: StreamPosition | undefined) => void;
}

/** One WebSocket connection as an application sees it. */
export interface Connection {
  /** Unique within the server process. */
  readonly id: number;
  /** The negotiated subprotocol, or undefined when none was agreed. */
  readonly protocol: string | undefined;
  /** The opening handshake's request: method, URL with query, headers, remote address and port. */
  readonly request: UpgradeRequest;
  /**
   * Per-connection user data: what `upgrade` (or else the server's `authorize` hook) returned as
   * `{ data }`, undefined otherwise. The application may replace it.
   */
  data: unknown;
  /** Bytes queued for the socket and not yet written. */
  readonly bufferedAmount: number;
  /** Sends a message: strings as text, bytes as binary, unless isBinary says otherwise. False once closing. */
  send(data: string | Uint8Array, isBinary?: boolean): boolean;
  /** Starts the closing handshake with `code` (default 1000) and a reason of at most 123 bytes. */
  close(code?: number, reason?: string): void;
  /** Sends a ping (at most 125 bytes); the peer's pong is handled by the protocol. */
  ping(data?: Uint8Array): void;
  /** Drops the TCP connection at once, without a closing handshake (the app's `close` sees 1006). */
  terminate(): void;
  /**
   * Subscribes this connection to a topic pattern (`*` one segment, `>` the rest): every message
   * published to a matching topic, on this node or another one, is sent to it. Throws a
   * TypeError for an invalid pattern (check with `topicError` first to answer the client).
   * Returns undefined when subscribed (or already), else why not: `forbidden` (the topic
   * permissions) or `too_many_subscriptions` (maxSubscriptions, maxSubscriptionsPerIp, maxTotalSubscriptions).
   */
  subscribe(pattern: string, options?: SubscribeOptions): PubSubRefusal | undefined;
  unsubscribe(pattern: string): void;
  /**
   * Publishes `data` to every connection subscribed to `topic`, on every node: each subscriber
   * receives `data` as a message (text for strings, binary for bytes unless isBinary says otherwise).
   * The frame is built once for all subscribers. Returns undefined when published, a
   * `forbidden` refusal when the topic permissions say no.
   */
  publish(topic: string, data: string | Uint8Array, isBinary?: boolean): PubSubRefusal | undefined;
  /**
   * Publishes a pub/sub message (the pubsub app's protocol): every subscriber of a matching
   * pattern receives `{"type":"message","topic":T,"data":D}` with `data` as JSON, plus
   * `"offset":N` when the server keeps history, where it is kept for recovery. Returns a
   * refusal like publish().
   */
  publishMessage(topic: string, data: unknown, options?: MessagePublishOptions): PubSubRefusal | undefined;
  /** The topic's position and the messages `query` asks for; undefined when the server keeps no history. */
  history(topic: string, query?: HistoryQuery): Promise<HistoryReply | undefined>;
  /** Subscriptions to exactly `topic` on every worker and node (patterns that match it are not counted). */
  presence(topic: string): Promise<number>;
}

export interface Application {
  /**
   * Runs at each opening handshake, in the thread that serves the connection, after the server's
   * `authorize` hook: accept (`true`, or `{ data }` for `conn.data`), or refuse (`false` → 401,
   * `{ status, reason }`). An exception or anything else answers 500.
   */
  upgrade?(request: UpgradeRequest): AuthorizeVerdict | Promise<AuthorizeVerdict>;
  /*
   * open, message, close and drain may be async: a promise they return belongs to the
   * connection. An exception thrown, or a rejection of that promise, closes that connection
   * (and only that one) with 1011, is counted in /healthz as `applicationErrors` and reported to
   * `onError` (logged without it). The server does not wait for the promise: the next message
   * may be handled before it settles.
   */
  open?(conn: Connection): void | Promise<void>;
  message?(conn: Connection, data: Buffer, isBinary: boolean): void | Promise<void>;
  /** Called once per connection with the close code received (1005 none, 1006 no close frame). */
  close?(conn: Connection, code: number, reason: string): void | Promise<void>;
  /** The connection's write buffer fell below its high-water mark again. */
  drain?(conn: Connection): void | Promise<void>;
  /**
   * Topic permissions, asked at every `conn.subscribe` / `conn.publish` (so for every client
   * request of the pubsub app): return true to allow, false to refuse (`forbidden`). Synchronous:
   * decide from `conn.data`, which `upgrade` can fill asynchronously. Without a hook, the
   * server's `topicsPublic` decides (every topic, by default, but no pattern starting with a
   * wildcard).
   */
  canSubscribe?(conn: Connection, pattern: string): boolean;
  canPublish?(conn: Connection, topic: string): boolean;
  /**
   * Plain HTTP on the WebSocket port: a GET (not an upgrade, not /healthz) of `path`
   * (without its query) is answered with the page returned, or 404 when there is none. Runs in
   * the thread that owns the socket, synchronously; an exception answers 500 and is reported like
   * a handler's. The pubsub application serves its client page at `/` this way.
   */
  httpGet?(path: string): HttpPage | undefined;
  /**
   * The application's `message` handler is done with `data` when it returns (it sends it, or
   * reads it, and keeps nothing): it gets views of the bytes read, as with the `messageView`
   * server option, whatever that option says.
   */
  readonly messageView?: boolean;
}

/** What `httpGet` answers: a 200 with this body and `Content-Type`. */
export interface HttpPage {
  contentType: string;
  body: string | Uint8Array;
  /** Further response headers (`Content-Type` is always the one above). */
  headers?: Record<string, string>;
}

const BUILT_IN_APPS: Record<string, string> = {
  echo: './echo.js',
  pubsub: './pubsub.js',
};

/** Resolves `echo`, `pubsub` or a file path (relative to the working directory) to a module URL. */
export function applicationUrl(nameOrPath: string): string {
  const builtIn = BUILT_IN_APPS[nameOrPath];
  if (builtIn !== undefined) return new URL(builtIn, import.meta.url).href;
  const path = isAbsolute(nameOrPath) ? nameOrPath : resolve(process.cwd(), nameOrPath);
  return pathToFileURL(path).href;
}

export async function loadApplication(nameOrPath: string): Promise<Application> {
  const url = applicationUrl(nameOrPath);
  let module: { default?: unknown };
  try {
    module = await import(url);
  } catch (error) {
    throw new Error(`cannot load application "${nameOrPath}" (${url}): ${(error as Error).message}`);
  }
  const app = module.default;
  if (app === null || typeof app !== 'object') {
    throw new TypeError(`application "${nameOrPath}" must default-export an object with upgrade/open/message/close/drain handlers`);
  }
  for (const handler of ['upgrade', 'open', 'message', 'close', 'drain', 'canSubscribe', 'canPublish', 'httpGet'] as const) {
    const value = (app as Record<string, unknown>)[handler];
    if (value !== undefined && typeof value !== 'function') {
      throw new TypeError(`application "${nameOrPath}": ${handler} must be a function`);
    }
  }
  const { messageView } = app as Record<string, unknown>;
  if (messageView !== undefined && typeof messageView !== 'boolean') {
    throw new TypeError(`application "${nameOrPath}": messageView must be a boolean`);
  }
  return app as Application;
}
