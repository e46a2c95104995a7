/**
 * `wasmsocket/client`: the pub/sub client for browsers and Node ≥ 22 (their global `WebSocket`).
 * One plain ES module without imports at run time, so that the server can serve it at `/client.js`
 * and a page can import it without a bundler.
 *
 * It keeps one connection to one of several URLs (round-robin, exponential backoff with jitter),
 * notices a silent server with a request of its own (a browser cannot see pings), resubscribes
 * after every reconnect from each topic's last offset and epoch, and hands the application every
 * message of a recovered topic once and in order; when that cannot be done it says so
 * (`unrecovered`).
 */
import type {
  ClientEvents, ClientState, ConnectOptions, History, HistoryOptions, MessageHandler, PublishOptions,
  StreamPosition, SubscribeOptions, SubscribedEvent, Subscription, SubscriptionEvents, UnrecoveredEvent,
  WebSocketConstructor, WebSocketLike,
} from './types.js';

export type * from './types.js';

/** Every numeric option of `connect()`: its default and the least value it may take. */
export const CLIENT_OPTIONS = Object.freeze({
  minReconnectDelayMs: { default: 500, least: 1 },
  maxReconnectDelayMs: { default: 10_000, least: 1 },
  connectTimeoutMs: { default: 10_000, least: 1 },
  pingIntervalMs: { default: 25_000, least: 0 },
  pingTimeoutMs: { default: 10_000, least: 1 },
  requestTimeoutMs: { default: 10_000, least: 1 },
  maxQueued: { default: 1000, least: 0 },
});

type NumericOption = keyof typeof CLIENT_OPTIONS;

/**
 * A rejected request: `code` is the server's error code (`forbidden`, `bad_topic`…) or the
 * client's own: `timeout`, `queue_full`, `disconnected` (the connection was lost after the request
 * left: a publish may or may not have been made), `closed` (`client.close()` was called).
 */
export class ClientError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ClientError';
    this.code = code;
  }
}

type Listener<T> = (value: T) => void;

const ignore = () => {};

/** A minimal typed event emitter; a throwing listener does not stop the others. */
class Emitter<Events> {
  #listeners = new Map<keyof Events, Set<Listener<never>>>();

  on<E extends keyof Events>(event: E, listener: Listener<Events[E]>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) this.#listeners.set(event, set = new Set());
    set.add(listener as Listener<never>);
    return () => { set.delete(listener as Listener<never>); };
  }

  emit<E extends keyof Events>(event: E, value: Events[E]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        (listener as Listener<Events[E]>)(value);
      } catch (error) {
        setTimeout(() => { throw error; });
      }
    }
  }
}

/** NATS-style matching, as the server's: `*` is one segment, `>` one or more trailing segments. */
function matches(pattern: string, topic: string): boolean {
  if (pattern === topic) return true;
  const want = pattern.split('.');
  const have = topic.split('.');
  for (let i = 0; i < want.length; i++) {
    if (want[i] === '>') return have.length > i;
    if (i >= have.length || (want[i] !== '*' && want[i] !== have[i])) return false;
  }
  return want.length === have.length;
}

const isPattern = (topic: string) => topic.split('.').some((segment) => segment === '*' || segment === '>');

interface ServerReply {
  type?: unknown; id?: unknown; topic?: unknown; data?: unknown; offset?: unknown; epoch?: unknown;
  recovered?: unknown; code?: unknown; message?: unknown; messages?: unknown; subscribers?: unknown;
}

interface Request {
  body: Record<string, unknown>;
  /** Safe to send again on the next connection when the one it left on is lost. */
  idempotent: boolean;
  resolve(reply: ServerReply): void;
  reject(error: Error): void;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * One server-side subscription (one pattern), shared by every `subscribe()` of that pattern.
 * `syncing`: a subscribe is on its way and messages of the topic wait for its answer (a
 * recovered subscription's replay comes after it).
 */
class Channel {
  readonly handles = new Set<SubscriptionHandle>();
  position: StreamPosition | undefined;
  syncing = true;
  /** Subscribed on an earlier connection: the next `subscribed` either recovers or says what was lost. */
  wasSubscribed = false;
  /** A resubscribe after a gap while connected, not after a reconnect. */
  resyncing = false;
  constructor(readonly topic: string) {}

  get recover(): boolean {
    for (const handle of this.handles) if (handle.recover) return true;
    return false;
  }

  get exact(): boolean { return !isPattern(this.topic); }

  emit<E extends keyof SubscriptionEvents>(event: E, value: SubscriptionEvents[E]): void {
    for (const handle of this.handles) handle.events.emit(event, value);
  }

  deliver(data: unknown, topic: string, offset: number | undefined): void {
    for (const handle of this.handles) {
      try {
        handle.handler(data, offset === undefined ? { topic } : { topic, offset });
      } catch (error) {
        setTimeout(() => { throw error; });
      }
    }
  }
}

class SubscriptionHandle implements Subscription {
  readonly events = new Emitter<SubscriptionEvents>();
  constructor(readonly channel: Channel, readonly handler: MessageHandler, readonly recover: boolean, readonly release: (handle: SubscriptionHandle) => void) {}
  get topic(): string { return this.channel.topic; }
  get position(): StreamPosition | undefined { return this.channel.position && { ...this.channel.position }; }
  on<E extends keyof SubscriptionEvents>(event: E, listener: (value: SubscriptionEvents[E]) => void): () => void {
    return this.events.on(event, listener);
  }
  unsubscribe(): void { this.release(this); }
}

function numericOptions(options: ConnectOptions): Record<NumericOption, number> {
  const checked = {} as Record<NumericOption, number>;
  for (const [name, { default: fallback, least }] of Object.entries(CLIENT_OPTIONS) as [NumericOption, { default: number; least: number }][]) {
    const value = options[name] ?? fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < least) {
      throw new TypeError(`${name} must be an integer ≥ ${least}, got ${String(value)}`);
    }
    checked[name] = value;
  }
  return checked;
}

function checkUrls(urls: string | readonly string[]): string[] {
  const list = typeof urls === 'string' ? [urls] : Array.isArray(urls) ? [...urls] : [];
  if (list.length === 0) throw new TypeError('url must be a ws:// or wss:// URL or a non-empty array of them');
  for (const url of list) {
    let protocol = '';
    try { protocol = new URL(url).protocol; } catch { /* reported below */ }
    if (protocol !== 'ws:' && protocol !== 'wss:') throw new TypeError(`url must be ws:// or wss://, got ${JSON.stringify(String(url))}`);
  }
  return list;
}

export class Client {
  readonly #urls: string[];
  readonly #options: Record<NumericOption, number>;
  readonly #token: ConnectOptions['token'];
  readonly #WebSocket: WebSocketConstructor;
  readonly #events = new Emitter<ClientEvents>();
  readonly #channels = new Map<string, Channel>();
  /** Requests waiting for a connection, in the order they were made. */
  readonly #queue: Request[] = [];
  /** Requests sent on the current connection, by id. */
  readonly #sent = new Map<number, Request>();
  #state: ClientState = 'connecting';
  #socket: WebSocketLike | undefined;
  #url = '';
  #nextUrl = 0;
  #nextId = 1;
  /** Failed attempts since the last open: the exponent of the backoff. */
  #failures = 0;
  #reconnects = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastHeard = 0;
  #probeSentAt = 0;

  constructor(urls: string | readonly string[], options: ConnectOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    this.#urls = checkUrls(urls);
    this.#options = numericOptions(options);
    if (this.#options.maxReconnectDelayMs < this.#options.minReconnectDelayMs) throw new TypeError('maxReconnectDelayMs must be ≥ minReconnectDelayMs');
    const token = options.token;
    if (token !== undefined && typeof token !== 'string' && typeof token !== 'function') throw new TypeError('token must be a string or a function');
    this.#token = token;
    const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (typeof WebSocketClass !== 'function') throw new TypeError('WebSocket: no global WebSocket here (Node < 22?); pass options.WebSocket');
    this.#WebSocket = WebSocketClass;
    void this.#attempt();
  }

  get state(): ClientState { return this.#state; }
  /** The URL of the current or latest connection attempt. */
  get url(): string { return this.#url; }
  /** Connections opened after the first. */
  get reconnects(): number { return this.#reconnects; }

  on<E extends keyof ClientEvents>(event: E, listener: (value: ClientEvents[E]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /** Subscribes `handler` to a topic or pattern; the subscription holds across reconnects until `unsubscribe()`. */
  subscribe(topic: string, handler: MessageHandler, options: SubscribeOptions = {}): Subscription {
    if (typeof topic !== 'string' || topic === '') throw new TypeError('topic must be a non-empty string');
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    if (this.#state === 'closed') throw new ClientError('closed', 'the client is closed');
    const start = options.position;
    if (start !== undefined && (typeof start !== 'object' || start === null || !Number.isSafeInteger(start.offset) || typeof start.epoch !== 'string')) {
      throw new TypeError('position must be { offset, epoch }');
    }
    if (start !== undefined && isPattern(topic)) throw new TypeError('position needs an exact topic, not a pattern');
    let channel = this.#channels.get(topic);
    const fresh = channel === undefined;
    if (channel === undefined) {
      this.#channels.set(topic, channel = new Channel(topic));
      if (start !== undefined) {
        channel.position = { offset: start.offset, epoch: start.epoch };
        channel.wasSubscribed = true;
      }
    }
    const handle = new SubscriptionHandle(channel, handler, options.recover ?? true, (released) => this.#release(released));
    channel.handles.add(handle);
    if (fresh && this.#state === 'open') this.#sendSubscribe(channel);
    return handle;
  }

  /** Resolves with the offset the server gave the message (on a topic that keeps history) once it acknowledges it. */
  publish(topic: string, data: unknown, options: PublishOptions = {}): Promise<{ offset?: number }> {
    if (typeof topic !== 'string' || topic === '') return Promise.reject(new TypeError('topic must be a non-empty string'));
    if (data === undefined) return Promise.reject(new TypeError('data must be a JSON value'));
    const body: Record<string, unknown> = { type: 'publish', topic, data };
    if (options.self === false) body.self = false;
    return this.#request(body, false).then((reply) => (typeof reply.offset === 'number' ? { offset: reply.offset } : {}));
  }

  history(topic: string, options: HistoryOptions = {}): Promise<History> {
    const body: Record<string, unknown> = { type: 'history', topic };
    if (options.limit !== undefined) body.limit = options.limit;
    if (options.since !== undefined) body.since = { offset: options.since.offset, epoch: options.since.epoch };
    return this.#request(body, true).then((reply) => ({
      offset: Number(reply.offset), epoch: String(reply.epoch), messages: Array.isArray(reply.messages) ? reply.messages : [],
    }));
  }

  /** How many subscriptions to exactly `topic` there are, over every worker and node. */
  presence(topic: string): Promise<number> {
    return this.#request({ type: 'presence', topic }, true).then((reply) => Number(reply.subscribers));
  }

  /** Closes the connection for good: waiting and unanswered requests are rejected with `closed`. */
  close(): void {
    if (this.#state === 'closed') return;
    const socket = this.#socket;
    this.#drop();
    try { socket?.close(1000, 'client closed'); } catch { /* already closing */ }
    this.#setState('closed');
    const error = () => new ClientError('closed', 'the client is closed');
    for (const request of this.#queue.splice(0)) request.reject(error());
    for (const request of this.#sent.values()) {
      clearTimeout(request.timer);
      request.reject(error());
    }
    this.#sent.clear();
    this.#channels.clear();
  }

  #setState(state: ClientState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#events.emit('state', state);
  }

  async #attempt(): Promise<void> {
    const url = this.#urls[this.#nextUrl++ % this.#urls.length]!;
    this.#url = url;
    let target = url;
    if (this.#token !== undefined) {
      let token: string;
      try {
        token = typeof this.#token === 'function' ? await this.#token() : this.#token;
      } catch (error) {
        if (this.#state === 'closed') return;
        this.#events.emit('error', new ClientError('token', `the token function failed: ${(error as Error)?.message ?? error}`));
        this.#retry();
        return;
      }
      if (this.#state === 'closed') return;
      const withToken = new URL(url);
      withToken.searchParams.set('token', String(token));
      target = withToken.href;
    }
    let socket: WebSocketLike;
    try {
      socket = new this.#WebSocket(target);
    } catch (error) {
      this.#events.emit('error', error as Error);
      this.#retry();
      return;
    }
    this.#socket = socket;
    this.#timer = setTimeout(() => this.#lost(), this.#options.connectTimeoutMs);
    socket.onopen = () => this.#opened();
    socket.onmessage = (event) => this.#received(event.data);
    socket.onclose = () => this.#lost();
    socket.onerror = () => this.#lost();
  }

  #opened(): void {
    clearTimeout(this.#timer);
    if (this.#state === 'reconnecting') this.#reconnects++;
    this.#failures = 0;
    this.#lastHeard = Date.now();
    this.#probeSentAt = 0;
    this.#setState('open');
    // Subscriptions first: this client's own publishes below then reach its own subscriptions.
    for (const channel of this.#channels.values()) this.#sendSubscribe(channel);
    for (const request of this.#queue.splice(0)) this.#send(request);
    this.#watch();
  }

  /**
   * Forgets the socket (its events no longer count) and every timer. Its handlers become no-ops
   * rather than null: `ws` emits the error of a handshake cut short, and an EventEmitter with no
   * error listener throws.
   */
  #drop(): void {
    const socket = this.#socket;
    if (socket !== undefined) socket.onopen = socket.onmessage = socket.onclose = socket.onerror = ignore;
    this.#socket = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The connection (or the attempt) is gone: closed, failed, timed out or silent. */
  #lost(): void {
    const socket = this.#socket;
    this.#drop();
    // A silent server may never answer a closing handshake: nothing here waits for one.
    try { socket?.close(); } catch { /* already closing */ }
    for (const request of this.#sent.values()) {
      clearTimeout(request.timer);
      if (request.idempotent) this.#queue.push(request);
      else request.reject(new ClientError('disconnected', 'the connection was lost before the server answered'));
    }
    this.#sent.clear();
    for (const channel of this.#channels.values()) channel.syncing = true;
    this.#retry();
  }

  #retry(): void {
    if (this.#state === 'closed') return;
    this.#setState(this.#state === 'connecting' ? 'connecting' : 'reconnecting');
    const { minReconnectDelayMs: min, maxReconnectDelayMs: max } = this.#options;
    // Exponential backoff, each delay drawn between the least and the current ceiling, so that
    // clients that lost the same server come back spread out.
    const ceiling = Math.min(max, min * 2 ** Math.min(this.#failures++, 30));
    const delay = min + Math.random() * (ceiling - min);
    this.#timer = setTimeout(() => { this.#timer = undefined; void this.#attempt(); }, delay);
  }

  /**
   * Dead-server detection: after pingIntervalMs without any message, ask the server for one
   * (`ping`, answered by `pong`: the cheapest request there is; any reply counts); nothing within
   * pingTimeoutMs → leave and reconnect.
   */
  #watch(): void {
    if (this.#options.pingIntervalMs === 0) return;
    const check = () => {
      const now = Date.now();
      if (this.#probeSentAt !== 0) {
        if (this.#lastHeard < this.#probeSentAt) { this.#lost(); return; }
        this.#probeSentAt = 0;
      }
      const idle = now - this.#lastHeard;
      if (idle >= this.#options.pingIntervalMs) {
        this.#probeSentAt = now;
        this.#socket!.send('{"type":"ping"}');
        this.#timer = setTimeout(check, this.#options.pingTimeoutMs);
      } else {
        this.#timer = setTimeout(check, this.#options.pingIntervalMs - idle);
      }
    };
    this.#timer = setTimeout(check, this.#options.pingIntervalMs);
  }

  #request(body: Record<string, unknown>, idempotent: boolean): Promise<ServerReply> {
    return new Promise((resolve, reject) => {
      if (this.#state === 'closed') { reject(new ClientError('closed', 'the client is closed')); return; }
      const request: Request = { body, idempotent, resolve, reject };
      if (this.#state === 'open') this.#send(request);
      else if (this.#queue.length >= this.#options.maxQueued) reject(new ClientError('queue_full', `${this.#options.maxQueued} requests already wait for a connection (maxQueued)`));
      else this.#queue.push(request);
    });
  }

  #send(request: Request): void {
    const id = this.#nextId++;
    this.#sent.set(id, request);
    request.timer = setTimeout(() => {
      this.#sent.delete(id);
      request.reject(new ClientError('timeout', `no answer to ${String(request.body.type)} in ${this.#options.requestTimeoutMs} ms`));
    }, this.#options.requestTimeoutMs);
    this.#socket!.send(JSON.stringify({ ...request.body, id }));
  }

  #sendSubscribe(channel: Channel): void {
    channel.syncing = true;
    const body: Record<string, unknown> = { type: 'subscribe', topic: channel.topic };
    if (channel.position !== undefined && channel.exact && channel.recover) body.recover = { ...channel.position };
    this.#socket!.send(JSON.stringify(body));
  }

  #release(handle: SubscriptionHandle): void {
    const channel = handle.channel;
    if (!channel.handles.delete(handle) || channel.handles.size > 0) return;
    if (this.#channels.get(channel.topic) === channel) this.#channels.delete(channel.topic);
    if (this.#state === 'open') this.#socket!.send(JSON.stringify({ type: 'unsubscribe', topic: channel.topic }));
  }

  #received(raw: unknown): void {
    this.#lastHeard = Date.now();
    if (typeof raw !== 'string') return;
    let reply: ServerReply;
    try {
      reply = JSON.parse(raw) as ServerReply;
    } catch {
      this.#events.emit('error', new ClientError('bad_json', 'the server sent a message that is not JSON'));
      return;
    }
    if (reply === null || typeof reply !== 'object') return;
    if (reply.type === 'message' && typeof reply.topic === 'string') {
      const offset = typeof reply.offset === 'number' ? reply.offset : undefined;
      for (const channel of this.#channels.values()) {
        if (matches(channel.topic, reply.topic)) this.#onMessage(channel, reply.topic, reply.data, offset);
      }
      return;
    }
    if (reply.type === 'subscribed' && typeof reply.topic === 'string') {
      const channel = this.#channels.get(reply.topic);
      if (channel !== undefined) this.#onSubscribed(channel, reply);
      return;
    }
    const request = typeof reply.id === 'number' ? this.#sent.get(reply.id) : undefined;
    if (request !== undefined) {
      this.#sent.delete(reply.id as number);
      clearTimeout(request.timer);
      if (reply.type === 'error') request.reject(new ClientError(String(reply.code), String(reply.message)));
      else request.resolve(reply);
      return;
    }
    if (reply.type === 'error') {
      const channel = typeof reply.topic === 'string' ? this.#channels.get(reply.topic) : undefined;
      const error = new ClientError(String(reply.code), String(reply.message));
      if (channel !== undefined && channel.syncing) {
        // A refused subscribe: the subscription is over.
        this.#channels.delete(channel.topic);
        channel.emit('error', error);
      } else {
        this.#events.emit('error', error);
      }
    }
  }

  #onSubscribed(channel: Channel, reply: ServerReply): void {
    if (!channel.syncing) return;
    channel.syncing = false;
    const offset = typeof reply.offset === 'number' ? reply.offset : undefined;
    const epoch = typeof reply.epoch === 'string' ? reply.epoch : undefined;
    const recovered = reply.recovered === true && channel.position !== undefined && channel.position.epoch === epoch;
    const replayed = recovered && offset !== undefined ? Math.max(0, offset - channel.position!.offset) : 0;
    const lost = channel.wasSubscribed && !recovered;
    const reason: UnrecoveredEvent['reason'] = channel.resyncing ? 'gap' : !channel.exact ? 'pattern'
      : channel.position === undefined || !channel.recover ? 'no_position' : 'server';
    // Unrecovered, the subscription goes on from the server's current position.
    if (!recovered) channel.position = offset !== undefined && epoch !== undefined ? { offset, epoch } : undefined;
    channel.wasSubscribed = true;
    channel.resyncing = false;
    const event: SubscribedEvent = { recovered, replayed };
    if (offset !== undefined) event.offset = offset;
    if (epoch !== undefined) event.epoch = epoch;
    channel.emit('subscribed', event);
    if (lost) channel.emit('unrecovered', { reason, ...channel.position });
  }

  #onMessage(channel: Channel, topic: string, data: unknown, offset: number | undefined): void {
    if (channel.syncing) return;
    const position = channel.position;
    if (offset !== undefined && channel.exact && position !== undefined) {
      if (offset !== position.offset + 1 && channel.recover) {
        // A gap, or offsets that went back (a history lost while connected): let the server
        // settle it from the last position delivered, as after a reconnect.
        if (channel.resyncing) return;
        channel.resyncing = true;
        this.#socket!.send(JSON.stringify({ type: 'unsubscribe', topic: channel.topic }));
        this.#sendSubscribe(channel);
        return;
      }
      position.offset = offset;
    }
    channel.deliver(data, topic, offset);
  }
}

/** Connects to `url` (or, round-robin, to each of several) and keeps connected until `close()`. */
export function connect(url: string | readonly string[], options?: ConnectOptions): Client {
  return new Client(url, options);
}
