/**
 * A broadcast's frames of one turn, fanned out together. Consecutive plain publishes to one topic
 * are framed into one buffer, and each subscriber is visited once for all of them when the turn
 * ends: the same buffer goes to every subscriber's socket, one write each. A subscriber visited
 * per publish costs a few dozen nanoseconds of checks and queueing per delivery, which for small
 * messages is most of what the server does besides the kernel's write (uWebSockets.js drains its
 * topics once per loop iteration the same way).
 *
 * Order is kept: a batch holds one topic at a time (a publish to another topic fans out the batch
 * first), and anything else written to any socket of the thread first fans out what is batched
 * (`fanOutBatchedBroadcasts`, called by the socket link before every write of its own), as does a
 * change of subscriptions. A holder may keep its batch past a turn end while more publishes for it
 * are on their way back (history offsets from Redis or the main thread: Broker.fanOutAtTurnEnd).
 */
import { headerLength, type FrameCodec } from '../codec/codec.js';
import { SharedFrame } from '../protocol/shared-frame.js';

/** Publishes up to this size are batched; a larger one goes alone, its frame uncopied. */
export const BATCHED_PUBLISH_MAX = 16 * 1024;
/** A batch this large fans out before it takes more. */
const BATCH_BYTES_MAX = 64 * 1024;

/** One topic's frames of this turn, not yet fanned out. */
export class TurnBatch {
  /** The topic of the frames held (meaningless while `count` is 0). */
  topic = '';
  /** Messages held. */
  count = 0;
  /** The frames are #buffer[0, #filled). */
  #buffer: Buffer | undefined;
  #filled = 0;
  readonly #codec: FrameCodec;

  constructor(codec: FrameCodec) {
    this.#codec = codec;
  }

  /** Whether a message of `length` bytes for `topic` may join the frames held. */
  takes(topic: string, length: number): boolean {
    return this.count === 0 || (topic === this.topic && this.#filled + length <= BATCH_BYTES_MAX);
  }

  /** Frames one message after those held (the caller checked `takes`). */
  add(topic: string, payload: Uint8Array, opcode: number): void {
    const length = payload.length;
    const bytes = headerLength(length, false) + length;
    const filled = this.count++ === 0 ? 0 : this.#filled;
    let buffer = this.#buffer;
    if (filled === 0) {
      // A turn with one publish costs one buffer of its frame's size, as an unbatched publish would.
      this.topic = topic;
      this.#buffer = buffer = Buffer.allocUnsafeSlow(bytes);
    } else if (filled + bytes > buffer!.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(2 * buffer!.length, filled + bytes, 4096));
      buffer!.copy(grown, 0, 0, filled);
      this.#buffer = buffer = grown;
    }
    const at = filled + this.#codec.writeHeader(buffer!, filled, opcode, true, length);
    buffer!.set(payload, at);
    this.#filled = at + length;
  }

  /** The frames held, as one frame to share, and the batch empty again. */
  take(): SharedFrame {
    const frames = new SharedFrame(this.#filled === this.#buffer!.length ? this.#buffer! : this.#buffer!.subarray(0, this.#filled));
    this.#buffer = undefined;
    this.#filled = 0;
    this.count = 0;
    return frames;
  }
}

/** What holds a batch until the turn ends: the thread's brokers. */
export interface BatchHolder {
  /** Fans out the frames it holds now. */
  fanOut(): void;
  /**
   * At a turn end: fans out, or keeps the batch for a later turn end (false) when publishes that
   * would join it are about to come back; the holder then bounds the wait itself.
   */
  fanOutAtTurnEnd(): boolean;
}

let holders = new Set<BatchHolder>();
let scheduled = false;
/** The turn end is running its fan-outs: what they schedule is done by this turn end. */
let fanningOut = false;
let afterFanOut: (() => void) | undefined;

/**
 * Sets what the thread does at each turn end once the batches fanned out: the socket links write
 * what the turn queued (one turn end for both, so a fan-out's writes leave in the same turn).
 */
export function onTurnEnd(hook: () => void): void {
  afterFanOut = hook;
}

/** Asks for a turn end: once this turn's I/O callbacks have run. */
export function scheduleTurnEnd(): void {
  if (scheduled || fanningOut) return;
  scheduled = true;
  setImmediate(endTurn);
}

/** `holder` started a batch: it fans out at the turn end, or before any other write. */
export function awaitTurnEnd(holder: BatchHolder): void {
  holders.add(holder);
  scheduleTurnEnd();
}

/** Fans out every batch held on this thread now: called before any write that must come after them. */
export function fanOutBatchedBroadcasts(): void {
  if (holders.size === 0) return;
  const waiting = holders;
  holders = new Set();
  for (const holder of waiting) holder.fanOut();
}

function endTurn(): void {
  scheduled = false;
  fanningOut = true;
  const waiting = holders;
  holders = new Set();
  try {
    for (const holder of waiting) if (!holder.fanOutAtTurnEnd()) holders.add(holder);
  } finally {
    fanningOut = false;
  }
  afterFanOut?.();
}
