/**
 * WorkerPool: the Piscina pool that runs connections off the main thread. Each worker runs
 * one long-lived task (src/pool/worker.ts) that owns a MessagePort; a connection is bound to
 * the least-loaded worker when it opens and stays there for its whole life, so its protocol
 * state and the application's state live in one thread.
 *
 * Why a long-lived task per worker rather than a task per batch: a task per batch would need
 * Piscina's loadBalancer to pin connections to workers and would pay a task round trip per
 * turn; a port per worker lets both sides batch freely (one message per turn each way).
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { ResourceLimits } from 'node:worker_threads';
import type { CodecKind } from '../codec/codec.js';
import type { Utf8ValidatorChoice } from '../protocol/protocol.js';
import type { LinkEndpoint, SocketLink } from '../server/socket-io.js';
import { CloseCode } from '../protocol/close-codes.js';
import { BatchBuilder, readToMain, ToMain, ToWorker, type Batch } from './batch.js';
import type { WorkerTask } from './worker.js';

export interface WorkerPoolOptions {
  workers: number;
  /** Application name or module path, loaded in every worker. */
  app: string;
  codec: CodecKind;
  maxPayload: number;
  utf8Validator: Utf8ValidatorChoice;
  resourceLimits?: ResourceLimits;
  onError?: (error: Error) => void;
  /** Pub/sub requests of the workers' connections, for the broker on this thread. */
  pubsub: PubsubHooks;
}

export interface PubsubHooks {
  subscribe(connectionId: number, pattern: string): void;
  unsubscribe(connectionId: number, pattern: string): void;
  publish(connectionId: number, topic: string, payload: Uint8Array, isBinary: boolean): void;
}

/** What the server keeps per connection: how to ask it to close. */
export interface PooledConnection {
  close(code: number, reason: string): void;
}

/** A worker dying sooner than this after its start counts as a crash loop. */
const QUICK_DEATH_MS = 1000;
const MAX_RESTART_DELAY_MS = 5000;

/** RFC 6455 close frame with code 1011, for connections whose worker died. */
const INTERNAL_ERROR_CLOSE = Buffer.from([0x88, 0x02, CloseCode.INTERNAL_ERROR >> 8, CloseCode.INTERNAL_ERROR & 0xff]);

class WorkerSlot {
  readonly links = new Map<number, SocketLink>();
  #port: MessagePort | undefined;
  #builder = new BatchBuilder();
  #scheduled = false;
  #stopped = false;
  #startedAt = 0;
  #quickDeaths = 0;

  constructor(readonly index: number, readonly pool: WorkerPool) {}

  get load(): number {
    return this.links.size;
  }

  /** False while a crashed worker waits to be restarted. */
  get alive(): boolean {
    return this.#port !== undefined;
  }

  /** Starts this slot's long-lived task; when it dies, its connections close 1011 and it restarts. */
  start(): void {
    this.#startedAt = Date.now();
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    this.#builder = new BatchBuilder();
    this.#scheduled = false;
    port1.on('message', (batch: Batch) => this.#onBatch(batch));
    const { app, codec, maxPayload, utf8Validator } = this.pool.options;
    const task: WorkerTask = { port: port2, app, codec, maxPayload, utf8Validator };
    void this.pool.piscina.run(task, { transferList: [port2] as never }).then(
      () => undefined,
      (error: Error) => this.#onWorkerDied(port1, error),
    );
  }

  push(op: number, id: number, argument = 0): void {
    this.#builder.op(op, id, argument);
    this.#schedule();
  }

  pushChunk(op: number, id: number, chunk: Uint8Array): void {
    this.#builder.chunk(op, id, chunk);
    this.#schedule();
  }

  pushOpen(id: number, head: Uint8Array, subprotocol: string): void {
    this.#builder.chunkAndText(ToWorker.OPEN, id, head, subprotocol);
    this.#schedule();
  }

  pushText(op: number, id: number, text: string, argument: number): void {
    this.#builder.text(op, id, text, argument);
    this.#schedule();
  }

  /** Sends what is pending and closes the port, which ends the worker's task. */
  stop(): void {
    this.#stopped = true;
    this.#flush();
    this.#port?.close();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // setImmediate runs after this turn's I/O callbacks: every socket read of the turn is in one batch.
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#builder.isEmpty || this.#port === undefined) return;
    const { batch, transfer } = this.#builder.take();
    this.#port.postMessage(batch, transfer);
  }

  #onBatch(batch: Batch): void {
    readToMain(batch, (op, id, _argument, bytes, text) => {
      if (op === ToMain.ERROR) {
        this.pool.options.onError?.(new Error(`application error in worker ${this.index}, connection ${id}: ${text}`));
        return;
      }
      const link = this.links.get(id);
      if (link === undefined) return;
      const pubsub = this.pool.options.pubsub;
      switch (op) {
        case ToMain.WRITE: link.write(bytes!); break;
        case ToMain.END: link.end(); break;
        case ToMain.CLOSING: link.closing(); break;
        case ToMain.SUBSCRIBE: pubsub.subscribe(id, text!); break;
        case ToMain.UNSUBSCRIBE: pubsub.unsubscribe(id, text!); break;
        case ToMain.PUBLISH_TEXT: pubsub.publish(id, text!, bytes!, false); break;
        case ToMain.PUBLISH_BINARY: pubsub.publish(id, text!, bytes!, true); break;
      }
    });
  }

  #onWorkerDied(port: MessagePort, error: Error): void {
    port.close();
    this.#port = undefined;
    if (this.#stopped) return;
    this.pool.options.onError?.(new Error(`worker ${this.index} died: ${error.message}`));
    // Its connections lost their state: close them with 1011, then serve new ones on a fresh worker.
    for (const link of this.links.values()) {
      link.write(INTERNAL_ERROR_CLOSE);
      link.end();
    }
    this.links.clear();
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

/** The main-thread side of a connection that lives in a worker. */
class WorkerEndpoint implements LinkEndpoint, PooledConnection {
  constructor(readonly id: number, readonly slot: WorkerSlot, readonly link: SocketLink) {}

  receive(chunk: Buffer): void {
    this.slot.pushChunk(ToWorker.DATA, this.id, chunk);
  }

  pause(bufferedAmount: number): void {
    this.slot.push(ToWorker.PAUSE, this.id, Math.min(bufferedAmount, 0x7fff_ffff));
  }

  drain(): void {
    this.slot.push(ToWorker.DRAIN, this.id);
  }

  finish(): void {
    if (this.slot.links.get(this.id) !== this.link) return; // the worker died and forgot it
    this.slot.links.delete(this.id);
    this.slot.push(ToWorker.FINISH, this.id);
  }

  close(code: number, reason: string): void {
    if (this.slot.links.get(this.id) === this.link) this.slot.pushText(ToWorker.CLOSE, this.id, reason, code);
  }
}

export class WorkerPool {
  readonly piscina: Piscina;
  readonly options: WorkerPoolOptions;
  readonly #slots: WorkerSlot[] = [];

  constructor(options: WorkerPoolOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) throw new TypeError('workers must be a positive integer');
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
  }

  /** Binds a new connection to the least-loaded worker and starts it with the upgrade's head bytes. */
  open(id: number, link: SocketLink, subprotocol: string | undefined, head: Buffer): PooledConnection {
    let slot: WorkerSlot | undefined;
    for (const candidate of this.#slots) {
      if (candidate.alive && (slot === undefined || candidate.load < slot.load)) slot = candidate;
    }
    if (slot === undefined) throw new Error('no worker is running');
    slot.links.set(id, link);
    const endpoint = new WorkerEndpoint(id, slot, link);
    slot.pushOpen(id, head, subprotocol ?? '');
    link.attach(endpoint);
    return endpoint;
  }

  /** False when every worker is down and waiting to be restarted: new connections get 503. */
  get canAccept(): boolean {
    return this.#slots.some((slot) => slot.alive);
  }

  /** Connections per worker, in worker order. */
  get loads(): number[] {
    return this.#slots.map((slot) => slot.load);
  }

  /**
   * Stops the workers. Called once the connections are closed; a task that has not seen its
   * port close yet (a worker still starting) is ended by destroy().
   */
  async close(): Promise<void> {
    for (const slot of this.#slots) slot.stop();
    await this.piscina.destroy();
  }
}
