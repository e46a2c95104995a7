/**
 * SocketLink moves bytes between one upgraded TCP socket and its connection, on the thread that
 * owns the socket: reads, corked writes, backpressure and the closing timers. It never parses
 * a frame.
 */
import type { Socket } from 'node:net';
import { noteProgress } from './liveness.js';
import type { SharedFrame } from '../protocol/shared-frame.js';
import { readIntoMemory } from './wasm-reads.js';
import { writeNow } from './write-now.js';
import type { SendBudget } from './send-budget.js';
import { QueuedWrites } from './queued-writes.js';
import { traffic } from '../metrics/thread-traffic.js';
import { fanOutBatchedBroadcasts, onTurnEnd, scheduleTurnEnd } from '../pubsub/turn-batch.js';

/**
 * Settings every link of a server shares (one object per server, not one per connection: an
 * idle connection's memory is what a server holding many is made of).
 */
export interface SocketLinkOptions {
  /** Bytes queued on the socket above which we stop reading from it until it drains. */
  highWaterMark: number;
  /**
   * The most a send queue already over its high-water mark may grow to (highWaterMark +
   * maxPayload: an echo of the largest message on a queue at its mark). A write past it is not
   * queued: the owner's `linkOverflowed` is told once, and the connection closes; only its close
   * frame follows.
   */
  sendQueueLimit: number;
  /** How long to wait for the peer's close frame, or for its FIN after ours, before dropping TCP. */
  closeTimeoutMs: number;
  /** The thread's account of its send queues: every queued write is added, every flushed one removed. */
  budget: SendBudget;
  /**
   * Emptied queue records, lent to the next link that writes: a link whose writes the kernel has
   * all taken gives its record back, so an idle connection holds none and a busy one reuses one
   * instead of making garbage each turn. Absent: each link keeps its own.
   */
  spareQueues?: QueuedWrites[];
}

/**
 * Frames up to these sizes, written while a read is handled or delivered as a turn's broadcasts,
 * are batched per socket and copied into one write (QueuedWrites.batch); larger ones are written
 * as they are. A copy of a few KiB costs less than a chunk of Node's Writable (a record, a slot
 * in the writev); a broadcast frame is one buffer for every subscriber, so only small ones are
 * copied per subscriber.
 */
export const READ_BATCHED_FRAME_MAX = 4096;
const BROADCAST_BATCHED_FRAME_MAX = 512;

/** Spare queue records a server keeps: enough for the busy links of a turn, a bounded cost idle. */
const SPARE_QUEUES_KEPT = 1024;

/** What the link tells the connection that owns it (methods, so that no closure is kept per link). */
export interface LinkOwner {
  /** Bytes read; they may lie in memory the next read reuses (see startReading). */
  receive(chunk: Uint8Array): void;
  /** The write queue fell back under the high-water mark; reading resumed (unless held). */
  drain(): void;
  /** Called once when the TCP connection is closed (either side, clean or not). */
  linkClosed(): void;
  /** A write was refused for the send queue limit. */
  linkOverflowed(): void;
  /** The write queue went over the high-water mark: reading stopped until drain(). */
  linkBackpressured(): void;
}

export class SocketLink {
  readonly #socket: Socket;
  readonly #options: SocketLinkOptions;
  readonly #owner: LinkOwner;
  /** CLOSED, READS_INTO_MEMORY, PAUSED, HELD, CORKED, OVERFLOWED, READ_SINCE_SWEEP, READING (below the class): one field, not eight. */
  #bits = 0;
  #backlogAtCork = 0;
  #closeTimer: NodeJS.Timeout | undefined;
  /** This socket's writes not flushed yet, as the thread's budget counts them (made at the first write). */
  #queue: QueuedWrites | undefined;

  constructor(socket: Socket, options: SocketLinkOptions, owner: LinkOwner) {
    this.#socket = socket;
    this.#options = options;
    this.#owner = owner;
    socket.setNoDelay(true);
    // Listeners shared by every link (they find theirs by socket), so a link costs no closure.
    links.set(socket, this);
    socket.on('close', SocketLink.#onClose);
    // The HTTP server's sockets allow half-open connections: answer the peer's FIN with ours
    // (the stream then ends its side itself, with no listener of ours).
    socket.allowHalfOpen = false;
    destroyOnError(socket); // 'close' follows; the endpoint reports 1006
    socket.on('drain', SocketLink.#onDrainEvent);
  }

  static #onClose(this: Socket): void {
    const link = links.get(this);
    if (link === undefined || (link.#bits & CLOSED) !== 0) return;
    link.#bits |= CLOSED;
    clearTimeout(link.#closeTimer);
    link.#queue?.releaseAll();
    link.#owner.linkClosed();
  }

  static #onDrainEvent(this: Socket): void {
    links.get(this)!.#onDrain();
  }

  static #onData(this: Socket, chunk: Buffer): void {
    links.get(this)!.#onRead(chunk);
  }

  /** net.Socket calls its kBufferCb as a method of the socket, with the area it read into. */
  static #onMemoryRead(this: Socket, nread: number, area: Uint8Array): void {
    links.get(this)!.#onRead(area.subarray(0, nread));
  }

  /** Resolves when the TCP connection is closed (made on demand, for shutdown: a new promise each time). */
  get closed(): Promise<void> {
    if ((this.#bits & CLOSED) !== 0) return Promise.resolve();
    return new Promise((resolve) => this.#socket.once('close', () => resolve()));
  }

  /** Bytes arrived since the heartbeat sweep last looked (the sweep resets this): the peer is alive. */
  get readSinceSweep(): boolean {
    return (this.#bits & READ_SINCE_SWEEP) !== 0;
  }

  set readSinceSweep(read: boolean) {
    if (read) this.#bits |= READ_SINCE_SWEEP;
    else this.#bits &= ~READ_SINCE_SWEEP;
  }

  /** True when the socket reads straight into the codec's memory (src/server/wasm-reads.ts). */
  get readsIntoMemory(): boolean {
    return (this.#bits & READS_INTO_MEMORY) !== 0;
  }

  /**
   * Starts delivering the socket's bytes to the owner: read straight into `readArea` (the
   * codec's memory, shared by the thread's connections) where the socket allows it, else as
   * 'data' chunks. Either way owner.receive() must be done with the bytes when it returns.
   */
  startReading(readArea?: Uint8Array): void {
    const socket = this.#socket;
    if (readArea !== undefined && readIntoMemory(socket, readArea, SocketLink.#onMemoryRead)) {
      this.#bits |= READS_INTO_MEMORY;
      // Reading may have stopped with the HTTP parser; resume() restarts it (a no-op if it runs).
      if ((this.#bits & (HELD | PAUSED)) === 0) socket.resume();
      return;
    }
    socket.on('data', SocketLink.#onData);
  }

  #onRead(chunk: Uint8Array): void {
    this.#bits |= READ_SINCE_SWEEP;
    noteProgress();
    traffic.bytesIn += chunk.length;
    // Every reply produced while handling one read leaves in one write (writev): the small ones
    // copied into one buffer (a write through Node's Writable each would cost a record and a
    // chunk in the writev), the large ones as they are.
    const socket = this.#socket;
    socket.cork();
    this.#bits |= READING;
    try {
      this.#owner.receive(chunk);
    } finally {
      this.#bits &= ~READING;
    }
    // A link corked for the turn's deliveries writes its batch when the turn ends.
    if (this.#queue !== undefined && (this.#bits & CORKED) === 0 && socket.writable) this.#writeBatch(this.#queue);
    socket.uncork();
    this.#settleQueue();
  }

  /** The peer's IP address ('' once the socket is gone without having been asked). */
  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? '';
  }

  /** Bytes queued for the peer: in the socket's queue, and batched for the end of this turn. */
  get bufferedAmount(): number {
    return this.#socket.writableLength + (this.#queue?.batchedBytes ?? 0);
  }

  /** Tells the thread's budget of the writes the kernel has taken since it last looked. */
  settleWrites(): void {
    this.#queue?.settle(this.#socket.writableLength);
  }

  /** Reading stopped because the write queue is over the high-water mark; 'drain' ends it. */
  get backpressured(): boolean {
    return (this.#bits & PAUSED) !== 0;
  }

  /**
   * Bytes still queued from earlier turns: what a slow reader has left unread. Bytes delivered
   * this turn sit in the corked socket until the turn ends and say nothing about the reader.
   */
  get backlog(): number {
    return (this.#bits & CORKED) !== 0 ? this.#backlogAtCork : this.#socket.writableLength;
  }

  /** The close frame is out or TCP is gone: no more data goes out, the queue only drains. */
  get isClosing(): boolean {
    return this.#closeTimer !== undefined || this.#socket.destroyed;
  }

  write(first: Uint8Array, second?: Uint8Array): void {
    // The thread's broadcasts batched for this turn were published before this write.
    fanOutBatchedBroadcasts();
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) return;
    if (!this.#admits(first.length + (second?.length ?? 0))) return;
    traffic.bytesOut += first.length + (second?.length ?? 0);
    const queue = this.#queue ??= this.#takeQueue();
    const batchedMax = (this.#bits & READING) !== 0 ? READ_BATCHED_FRAME_MAX : BROADCAST_BATCHED_FRAME_MAX;
    if ((this.#bits & (READING | CORKED)) !== 0 && second === undefined && first.length <= batchedMax) {
      queue.batch(first);
      this.#checkHighWater();
      return;
    }
    this.#writeBatch(queue); // what was delivered before goes first
    queue.settle(socket.writableLength);
    queue.queued(first.length);
    if (second === undefined) {
      socket.write(first);
    } else {
      queue.queued(second.length);
      socket.cork();
      socket.write(first);
      socket.write(second);
      socket.uncork();
    }
    this.#checkHighWater();
  }

  /**
   * A frame whose payload is valid only during this call (FrameSink.writeLent): written to the
   * kernel now when nothing is queued before it, and whatever is left is copied and queued.
   */
  writeLent(header: Uint8Array, payload: Uint8Array): void {
    fanOutBatchedBroadcasts();
    const socket = this.#socket;
    const total = header.length + payload.length;
    // Only with nothing before it: not in the socket's queue, nor batched for the read's or the turn's end.
    const written = socket.writable && socket.writableLength === 0 && (this.#bits & CORKED) === 0 && (this.#queue?.batchedBytes ?? 0) === 0
      ? writeNow(socket, [header, payload]) : 0;
    if (written === total) {
      traffic.bytesOut += total;
      return;
    }
    if (written < header.length) this.write(header.subarray(written), Buffer.from(payload));
    else this.write(Buffer.from(payload.subarray(written - header.length)));
    traffic.bytesOut += written;
  }

  /** Queues a frame that other links of this thread queue too: the budget counts its bytes once. */
  writeShared(frame: SharedFrame): void {
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) return;
    if (!this.#admits(frame.bytes.length)) return;
    traffic.bytesOut += frame.bytes.length;
    const queue = this.#queue ??= this.#takeQueue();
    // Settled when the turn's deliveries have been written (uncork), not at each one.
    if ((this.#bits & CORKED) !== 0 && frame.bytes.length <= BROADCAST_BATCHED_FRAME_MAX) {
      queue.batch(frame.bytes);
    } else {
      this.#writeBatch(queue);
      queue.queuedShared(frame);
      socket.write(frame.bytes);
    }
    this.#checkHighWater();
  }

  /** Writes the frames batched this turn (see QueuedWrites.batch), before anything written after them. */
  #writeBatch(queue: QueuedWrites): void {
    const batch = queue.takeBatch();
    if (batch !== undefined) this.#socket.write(batch);
  }

  /**
   * Backpressure stops reading, but an application can still send in a loop, or one read can
   * hold many requests: the queue's hard bound is here, where every byte for the peer passes.
   * A queue under its mark takes any message, however large (maxPayload bounds what we read,
   * not what the application sends).
   */
  #admits(bytes: number): boolean {
    const queued = this.bufferedAmount;
    if ((this.#bits & OVERFLOWED) === 0 && queued > this.#options.highWaterMark
      && queued + bytes > this.#options.sendQueueLimit + (bytes <= MAX_CONTROL_FRAME ? CONTROL_FRAME_ROOM : 0)) {
      this.#bits |= OVERFLOWED;
      this.#owner.linkOverflowed();
      return false;
    }
    return true;
  }

  /** Backpressure: a peer that does not read stops being read from, so memory stays bounded. */
  #checkHighWater(): void {
    const socket = this.#socket;
    if (this.bufferedAmount > this.#options.highWaterMark) {
      if ((this.#bits & PAUSED) === 0) {
        this.#bits |= PAUSED;
        socket.pause();
        this.#watchFlush();
        this.#owner.linkBackpressured();
      }
    }
  }

  /**
   * The socket emits 'drain' only once its own high-water mark was reached (16 or 64 KiB,
   * whichever way the socket was made), and ours may be lower: then an empty write's callback,
   * which runs once everything queued before it has gone to the kernel, tells us instead.
   */
  #watchFlush(): void {
    const socket = this.#socket;
    if (!socket.writableNeedDrain && !socket.destroyed) socket.write(EMPTY_CHUNK, () => this.#onFlushed());
  }

  #onFlushed(): void {
    if ((this.#bits & PAUSED) === 0 || this.#socket.destroyed) return;
    if (this.bufferedAmount <= this.#options.highWaterMark) this.#onDrain();
    else this.#watchFlush(); // more was queued meanwhile
  }

  /**
   * Before writing a broadcast delivery: corks the socket until this turn's I/O callbacks have
   * run, so the deliveries of many publishes leave in one writev. False when the link takes no
   * more deliveries (RFC 6455 §5.5.1: nothing may follow our close frame).
   */
  holdForTurn(): boolean {
    const socket = this.#socket;
    if (this.#closeTimer !== undefined || socket.destroyed || !socket.writable) return false;
    if ((this.#bits & CORKED) === 0) {
      this.#bits |= CORKED;
      this.#backlogAtCork = socket.writableLength;
      socket.cork();
      corkedLinks.push(this);
      scheduleTurnEnd();
    }
    return true;
  }

  /** @internal called once per turn for the links corked by holdForTurn(). */
  uncork(): void {
    this.#bits &= ~CORKED;
    const socket = this.#socket;
    if (this.#queue !== undefined && socket.writable) this.#writeBatch(this.#queue);
    socket.uncork();
    this.#settleQueue();
  }

  end(): void {
    fanOutBatchedBroadcasts();
    // The server closes TCP first; a peer that never answers our FIN is dropped after the timeout.
    if (this.#queue !== undefined && this.#socket.writable) this.#writeBatch(this.#queue);
    this.#socket.end();
    this.closing();
  }

  closing(): void {
    if (this.#closeTimer !== undefined || this.#socket.destroyed) return;
    this.#closeTimer = setTimeout(() => this.#socket.destroy(), this.#options.closeTimeoutMs);
    this.#closeTimer.unref();
  }

  /** Stops reading until releaseInput(), whatever the write queue does. */
  holdInput(): void {
    this.#bits |= HELD;
    this.#socket.pause();
  }

  releaseInput(): void {
    this.#bits &= ~HELD;
    if ((this.#bits & PAUSED) === 0 && !this.#socket.destroyed) this.#socket.resume();
  }

  /** Drops the TCP connection at once, without a closing handshake. */
  terminate(): void {
    this.#socket.destroy();
  }

  #takeQueue(): QueuedWrites {
    return this.#options.spareQueues?.pop() ?? new QueuedWrites(this.#options.budget);
  }

  /** Settles what the kernel has taken; a record left empty goes back to the spares. */
  #settleQueue(): void {
    const queue = this.#queue;
    if (queue === undefined) return;
    const queued = this.#socket.writableLength;
    queue.settle(queued);
    const spares = this.#options.spareQueues;
    if (queued === 0 && (this.#bits & CORKED) === 0 && queue.isEmpty && spares !== undefined && spares.length < SPARE_QUEUES_KEPT) {
      queue.reset();
      spares.push(queue);
      this.#queue = undefined;
    }
  }

  #onDrain(): void {
    this.#settleQueue();
    if ((this.#bits & PAUSED) === 0) return;
    this.#bits &= ~PAUSED;
    if ((this.#bits & HELD) === 0 && !this.#socket.destroyed) this.#socket.resume();
    this.#owner.drain();
  }
}

// SocketLink's #bits. An idle connection's memory is mostly its objects' fields.
/** The TCP connection is closed; the owner has been told. */
const CLOSED = 1;
/** The socket reads straight into the codec's memory (startReading was given an area it could use). */
const READS_INTO_MEMORY = 2;
/** Reading stopped for backpressure (the write queue is over the high-water mark). */
const PAUSED = 4;
/** Reading stopped by the owner (holdInput) until releaseInput. */
const HELD = 8;
/** Corked by holdForTurn until this turn's deliveries are written. */
const CORKED = 16;
/** A write was refused for the send queue limit; the connection is closing. */
const OVERFLOWED = 32;
const READ_SINCE_SWEEP = 64;
/** The owner is handling a read: small writes wait for its end (one write for all). */
const READING = 128;

/** The link of each socket, for the shared listeners. */
const links = new WeakMap<Socket, SocketLink>();

function destroySocket(this: Socket): void {
  this.destroy();
}

/** Makes an error destroy `socket` ('close' follows), with one shared listener however often asked. */
export function destroyOnError(socket: Socket): void {
  if (!socket.listeners('error').includes(destroySocket)) socket.on('error', destroySocket);
}

const EMPTY_CHUNK = Buffer.alloc(0);

/** RFC 6455 §5.5: a control frame's payload is at most 125 bytes; a server frame's header is 2. */
const MAX_CONTROL_FRAME = 127;
/**
 * Room past the send queue limit for frames that small: the close frame that a full queue's
 * connection is closed with, and pongs, always fit (tiny data messages stop a few KiB later).
 */
const CONTROL_FRAME_ROOM = 4096;

/** Links corked by deliver() during this turn. */
let corkedLinks: SocketLink[] = [];

onTurnEnd(uncorkAll);

function uncorkAll(): void {
  // Writing out a turn's deliveries is progress, even for a worker none of whose sockets sends
  // (the liveness heartbeat must not take a worker busy broadcasting for a stuck one).
  noteProgress();
  const links = corkedLinks;
  corkedLinks = [];
  for (const link of links) link.uncork();
}
