/**
 * WorkerPool: the Piscina pool whose workers own the node's connections. The main thread hands
 * each accepted socket, before its first byte is read, to the least-loaded live worker, which
 * serves it for its whole life (src/pool/worker.ts). The pool supervises the workers: a worker
 * that dies or stops answering its heartbeat is replaced, and only its own connections are lost.
 *
 * Why a long-lived task per worker rather than a task per connection or per batch: a socket and
 * its protocol state must stay on one thread, and a port per worker lets both sides batch their
 * control messages freely (one postMessage per turn each way).
 */
import { MessageChannel } from 'node:worker_threads';
import type { ResourceLimits } from 'node:worker_threads';
import type { Socket } from 'node:net';
import { Piscina } from 'piscina';
import type { ThreadStats, TlsCertificate } from '../server/connection-server.js';
import type { AuthorizeVerdict, UpgradeRequest } from '../server/upgrade-request.js';
import { PendingRequests, PortChannel, type ToMain, type ToWorker } from './messages.js';
import { createProgressCounter } from './liveness.js';
import { detachForMove } from './moved-socket.js';
import { noteConnectionChurn } from '../server/idle-collector.js';
import type { WorkerTask } from './worker.js';
import type { HistoryQuery, HistoryReply, Sequenced } from '../pubsub/history.js';

/** What the pool asks of the server it serves. */
export interface PoolHooks {
  authorize(request: UpgradeRequest): Promise<AuthorizeVerdict>;
  health(): Promise<Record<string, unknown>>;
  /** A publish from a connection of worker `from`. */
  publish(from: number, topic: string, payload: Uint8Array, isBinary: boolean): void;
  pattern(from: number, pattern: string, added: boolean): void;
  /** A history publish from worker `from`: `done` with its delivery once it has its offset. */
  sequence(from: number, topic: string, message: Uint8Array, done: (sequenced: Sequenced) => void): void;
  history(topic: string, query: HistoryQuery, done: (reply: HistoryReply | undefined) => void): void;
  /** Subscriptions to exactly `topic` over the node (`from`'s count given) and other nodes. */
  presence(from: number, topic: string, local: number, done: (count: number) => void): void;
  /** Worker `slot` is gone with its connections and subscriptions. */
  workerLost(slot: number): void;
  /** A socket handed to a worker is closed (or was lost with its worker). */
  socketClosed(id: number): void;
  onError(error: Error): void;
  log(line: string): void;
}

export interface WorkerPoolOptions {
  workers: number;
  task: Omit<WorkerTask, 'port' | 'progress'>;
  /** A worker that has not answered heartbeats for this long is stuck: it is terminated and replaced. */
  heartbeatTimeoutMs: number;
  resourceLimits?: ResourceLimits;
  hooks: PoolHooks;
}

export interface PoolStats {
  /** Workers replaced after dying or getting stuck. */
  restarts: number;
  /** Of those, workers terminated for missing their heartbeat. */
  stuck: number;
  /** Of those, workers terminated for passing their external memory cap (maxWorkerExternalMemory). */
  overMemory: number;
}

/** A worker dying sooner than this after its start counts as a crash loop. */
const QUICK_DEATH_MS = 1000;
const MAX_RESTART_DELAY_MS = 5000;
/** How long stats and shutdown wait for a worker beyond which it counts as not answering. */
const STATS_ANSWER_MS = 2000;

function mebibytes(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** Node moves an accepted `net.Socket` to a worker thread from 24.22 on (and in 26.x). */
export function canTransferSockets(version = process.versions.node): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major > 24 || (major === 24 && minor >= 22);
}

class WorkerSlot {
  /** Ids of the sockets handed to this worker and not closed yet. */
  readonly sockets = new Set<number>();
  #channel: PortChannel<ToWorker, ToMain> | undefined;
  #threadId = -1;
  /** Heartbeats in a row that found the previous one unanswered. */
  #missedBeats = 0;
  #awaitingAnswer = false;
  /** The worker's read counter, and its value at the last heartbeat. */
  #progress = createProgressCounter();
  #progressAtBeat = 0;
  #startedAt = 0;
  #quickDeaths = 0;
  #stopped = false;
  /** An uncaught error is ending this worker: it takes no new sockets. */
  #failing = false;
  #stats = new PendingRequests<ThreadStats>();
  #counts = new PendingRequests<number>();
  #shutdownDone: (() => void) | undefined;
  #markStarted: () => void = () => {};
  /** Resolves once this worker has first started, or first died trying. */
  readonly started = new Promise<void>((resolve) => { this.#markStarted = resolve; });

  constructor(readonly index: number, readonly pool: WorkerPool) {}

  /** False while a crashed worker waits to be restarted. */
  get alive(): boolean {
    return this.#channel !== undefined;
  }

  /** Takes sockets: started (a socket handed to a worker that dies loading would be lost) and not failing. */
  get accepting(): boolean {
    return this.#channel !== undefined && this.#threadId >= 0 && !this.#failing;
  }

  start(): void {
    this.#startedAt = Date.now();
    this.#missedBeats = 0;
    this.#awaitingAnswer = false;
    this.#progress = createProgressCounter();
    this.#progressAtBeat = 0;
    this.#threadId = -1;
    this.#failing = false;
    this.#stats = new PendingRequests<ThreadStats>();
    this.#counts = new PendingRequests<number>();
    const { port1, port2 } = new MessageChannel();
    const channel = new PortChannel<ToWorker, ToMain>(port1, (message) => this.#receive(message));
    this.#channel = channel;
    const task: WorkerTask = { ...this.pool.options.task, port: port2, progress: this.#progress };
    this.pool.piscina.run(task, { transferList: [port2] as never }).then(
      () => undefined,
      (error: Error) => this.#died(channel, error),
    );
  }

  get load(): number {
    return this.sockets.size;
  }

  /** Moves a fresh socket to this worker; false, with the socket untouched, when it cannot move. */
  hand(socket: Socket, id: number): boolean {
    const moved = detachForMove(socket);
    if (moved === undefined) return false;
    // The accepted socket this thread made and dropped is this thread's garbage too.
    noteConnectionChurn(this.pool.options.task.settings.idleCollectAfter);
    this.sockets.add(id);
    this.#channel!.send({ type: 'socket', id, socket: moved }, [moved.handle]);
    return true;
  }

  send(message: ToWorker, transfer?: readonly unknown[]): void {
    this.#channel?.send(message, transfer);
  }

  /** This worker's counters, or undefined when it does not answer in time. */
  /** This worker's subscriptions to exactly `topic` (0 when it does not answer). */
  async subscriberCount(topic: string): Promise<number> {
    if (this.#channel === undefined || !this.alive) return 0;
    const { id, answer } = this.#counts.create(STATS_ANSWER_MS);
    this.#channel.send({ type: 'count-subscribers', request: id, topic });
    return (await answer) ?? 0;
  }

  stats(): Promise<ThreadStats | undefined> {
    if (this.#channel === undefined) return Promise.resolve(undefined);
    const { id, answer } = this.#stats.create(STATS_ANSWER_MS);
    this.#channel.send({ type: 'stats', request: id });
    return answer;
  }

  /**
   * Sends a heartbeat, or replaces the worker if it left `allowedMisses` in a row unanswered
   * while handling no socket read either. Counted in beats, not in wall time: when the whole
   * machine is starved, this thread's timer fires late too. And a worker whose answers are late
   * because it is working through a flood still reads sockets: it is busy, not stuck.
   */
  beat(allowedMisses: number, intervalMs: number): void {
    if (this.#channel === undefined || this.#threadId < 0) return;
    const progress = Atomics.load(this.#progress, 0);
    const madeProgress = progress !== this.#progressAtBeat;
    this.#progressAtBeat = progress;
    this.#missedBeats = this.#awaitingAnswer && !madeProgress ? this.#missedBeats + 1 : 0;
    if (this.#missedBeats < allowedMisses) {
      this.#awaitingAnswer = true;
      this.#channel.send({ type: 'ping', seq: this.#missedBeats });
      return;
    }
    this.pool.stats.stuck++;
    this.#replace(`did not answer ${this.#missedBeats} heartbeats ${intervalMs} ms apart`);
  }

  /** Terminates this worker (its connections drop with it); #died starts its replacement. */
  #replace(why: string): void {
    if (this.#threadId < 0) return;
    this.pool.options.hooks.log(`worker ${this.index} ${why}: replacing it`);
    const thread = this.pool.piscina.threads.find((worker) => worker.threadId === this.#threadId);
    this.#threadId = -1; // one termination per worker
    void thread?.terminate();
  }

  /** Asks the worker to close its connections with `code`; resolves when it has, or at `timeoutMs`. */
  shutdown(code: number, reason: string, timeoutMs: number): Promise<void> {
    if (this.#channel === undefined) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() { clearTimeout(timer); resolve(); }
      this.#shutdownDone = done;
      this.#channel!.send({ type: 'shutdown', code, reason });
    });
  }

  /** Closes the port, which ends the worker's task. */
  stop(): void {
    this.#stopped = true;
    this.#channel?.close();
  }

  #receive(message: ToMain): void {
    this.#awaitingAnswer = false;
    const hooks = this.pool.options.hooks;
    switch (message.type) {
      case 'ready':
        this.#threadId = message.threadId;
        this.#markStarted();
        break;
      case 'closed':
        noteConnectionChurn(this.pool.options.task.settings.idleCollectAfter);
        if (this.sockets.delete(message.id)) hooks.socketClosed(message.id);
        break;
      case 'publish': hooks.publish(this.index, message.topic, message.payload, message.isBinary); break;
      case 'pattern': hooks.pattern(this.index, message.pattern, message.added); break;
      case 'sequence':
        hooks.sequence(this.index, message.topic, message.message, (sequenced) => this.send({ type: 'sequenced', ticket: message.ticket, sequenced }));
        break;
      case 'history':
        hooks.history(message.topic, message.query, (reply) => this.send({ type: 'history', request: message.request, reply }));
        break;
      case 'presence':
        hooks.presence(this.index, message.topic, message.local, (count) => this.send({ type: 'presence', request: message.request, count }));
        break;
      case 'subscriber-count': this.#counts.settle(message.request, message.count); break;
      case 'authorize':
        void hooks.authorize(message.upgrade).then((verdict) => this.send({ type: 'verdict', request: message.request, verdict }));
        break;
      case 'health':
        void hooks.health().then((health) => this.send({ type: 'health', request: message.request, health }));
        break;
      case 'stats': this.#stats.settle(message.request, message.stats); break;
      case 'pong': break;
      case 'error':
        hooks.onError(new Error(`application error in worker ${this.index}, connection ${message.connection}: ${message.stack}`));
        break;
      case 'log': hooks.log(message.line); break;
      case 'failing':
        this.#failing = true;
        hooks.onError(new Error(`worker ${this.index} is ending after an uncaught error, closing its connections with 1011: ${message.stack}`));
        break;
      case 'memory-limit':
        // A failing worker is already ending: replacing it now would cut its 1011 closes short.
        if (this.#threadId < 0 || this.#failing) break;
        this.pool.stats.overMemory++;
        this.#replace(`holds ${mebibytes(message.external)} of external memory, over its cap of ${mebibytes(message.limit)}`);
        break;
      case 'shutdown-done': this.#shutdownDone?.(); break;
    }
  }

  #died(channel: PortChannel<ToWorker, ToMain>, error: Error): void {
    if (this.#channel !== channel) return;
    this.#markStarted();
    channel.close();
    this.#channel = undefined;
    this.#stats.cancelAll();
    this.#counts.cancelAll();
    this.#shutdownDone?.();
    if (this.#stopped) return;
    // The thread's sockets closed with it: its clients see their TCP connections end.
    for (const id of this.sockets) this.pool.options.hooks.socketClosed(id);
    this.sockets.clear();
    this.pool.stats.restarts++;
    this.pool.options.hooks.workerLost(this.index);
    this.pool.options.hooks.onError(new Error(`worker ${this.index} died: ${error.message}`));
    // A worker that dies right after it starts (an app that throws when loaded in a worker)
    // is restarted with a growing delay instead of in a tight loop.
    this.#quickDeaths = Date.now() - this.#startedAt < QUICK_DEATH_MS ? this.#quickDeaths + 1 : 0;
    if (this.#quickDeaths === 0) {
      this.start();
      return;
    }
    const delay = Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** (this.#quickDeaths - 1));
    setTimeout(() => { if (!this.#stopped) this.start(); }, delay).unref();
  }
}

export class WorkerPool {
  readonly piscina: Piscina;
  readonly options: WorkerPoolOptions;
  readonly stats: PoolStats = { restarts: 0, stuck: 0, overMemory: 0 };
  readonly #slots: WorkerSlot[] = [];
  readonly #heartbeat: NodeJS.Timeout;

  constructor(options: WorkerPoolOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) throw new TypeError('workers must be a positive integer');
    if (!canTransferSockets()) {
      throw new Error(`worker mode needs Node >= 24.22, which can move a socket to a worker thread; this is Node ${process.versions.node} (use workers: 0, or a newer Node)`);
    }
    this.options = options;
    this.piscina = new Piscina({
      filename: new URL('./worker.js', import.meta.url).href,
      minThreads: options.workers,
      maxThreads: options.workers,
      // One long-lived task per worker: a worker never takes a second slot's task.
      concurrentTasksPerWorker: 1,
      idleTimeout: Infinity,
      // The task waits on its MessagePort, so Piscina's Atomics.wait loop must stay out of the way.
      atomics: 'disabled',
      resourceLimits: options.resourceLimits,
    });
    for (let i = 0; i < options.workers; i++) {
      const slot = new WorkerSlot(i, this);
      this.#slots.push(slot);
      slot.start();
    }
    const interval = Math.max(50, Math.min(1000, Math.floor(options.heartbeatTimeoutMs / 5)));
    const allowedMisses = Math.max(2, Math.ceil(options.heartbeatTimeoutMs / interval));
    this.#heartbeat = setInterval(() => {
      for (const slot of this.#slots) slot.beat(allowedMisses, interval);
    }, interval);
    this.#heartbeat.unref();
  }

  /** Resolves when every worker has started (or failed its first start). */
  get started(): Promise<void> {
    return Promise.all(this.#slots.map((slot) => slot.started)).then(() => undefined);
  }

  /** Hands a fresh socket to the least-loaded live worker; false when none is running or it cannot move. */
  hand(socket: Socket, id: number): boolean {
    let slot: WorkerSlot | undefined;
    for (const candidate of this.#slots) {
      if (candidate.accepting && (slot === undefined || candidate.load < slot.load)) slot = candidate;
    }
    return slot !== undefined && slot.hand(socket, id);
  }

  /** Sends a publish to every live worker but `except` (the one it came from). */
  publish(topic: string, payload: Uint8Array, isBinary: boolean, except = -1, offset?: number): void {
    const message: ToWorker = offset === undefined ? { type: 'publish', topic, payload, isBinary } : { type: 'publish', topic, payload, isBinary, offset };
    for (const slot of this.#slots) {
      if (slot.index !== except && slot.alive) slot.send(message);
    }
  }

  /** Subscriptions to exactly `topic` on every worker but `except`. */
  async subscriberCount(topic: string, except = -1): Promise<number> {
    const counts = await Promise.all(this.#slots.filter((slot) => slot.index !== except).map((slot) => slot.subscriberCount(topic)));
    return counts.reduce((sum, count) => sum + count, 0);
  }

  /** Every worker, and every worker started later, takes new TLS connections with `certificate`. */
  setCertificate(certificate: TlsCertificate): void {
    this.options.task.settings = { ...this.options.task.settings, tls: certificate };
    for (const slot of this.#slots) slot.send({ type: 'certificate', certificate });
  }

  /** Every worker's publishes leave it from now on, also those of workers started later. */
  relayPublishes(): void {
    if (this.options.task.relayPublishes) return;
    this.options.task.relayPublishes = true;
    for (const slot of this.#slots) slot.send({ type: 'relay-publishes' });
  }

  /** Sockets per worker, as handed out and not closed yet, in worker order. */
  get loads(): number[] {
    return this.#slots.map((slot) => slot.load);
  }

  /** Each worker's counters (undefined for one that is down or did not answer). */
  threadStats(): Promise<(ThreadStats | undefined)[]> {
    return Promise.all(this.#slots.map((slot) => slot.stats()));
  }

  /** Every worker closes its connections with `code`, waiting at most `timeoutMs` for them. */
  async shutdown(code: number, reason: string, timeoutMs: number): Promise<void> {
    await Promise.all(this.#slots.map((slot) => slot.shutdown(code, reason, timeoutMs)));
  }

  /** Stops the workers (after shutdown); a worker still starting is ended by destroy(). */
  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    for (const slot of this.#slots) slot.stop();
    await this.piscina.destroy();
  }
}
