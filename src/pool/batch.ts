/**
 * The one wire format between the main thread and a worker. Each direction sends at most one
 * `Batch` per event-loop turn per worker, carrying the operations of every connection that
 * worker owns, in the order they happened.
 *
 *   ops    Int32Array of [op, connectionId, argument] triples.
 *   bytes  One transferred buffer per batch holding, back to back, the small payloads: main →
 *          worker, the bytes of OPEN (the upgrade's `head`) and DATA ops below
 *          TRANSFER_MIN_BYTES; worker → main, the frames of every WRITE op and the payloads of
 *          PUBLISH ops. Such an op's argument is its length. One copy, none after.
 *   chunks main → worker: socket chunks of TRANSFER_MIN_BYTES or more, each transferred with
 *          its own ArrayBuffer, not copied; their DATA op's argument is -1.
 *
 * Why small chunks are copied: postMessage pays about 1 µs per transferred (or cloned) buffer,
 * against ~10 ns to copy 20 bytes; 100 small chunks cost 90-145 µs per round trip as separate
 * buffers and 12 µs as one (measured on this machine, Node 20).
 *   texts  strings of OPEN (subprotocol, '' for none), CLOSE (reason), ERROR (message),
 *          SUBSCRIBE / UNSUBSCRIBE (pattern) and PUBLISH (topic) ops.
 */

/** Operations from the main thread to a worker. */
export const ToWorker = {
  /** A handshake finished: create the connection; chunk = head bytes, text = subprotocol. */
  OPEN: 1,
  /** Bytes read from the socket; chunk = the bytes. */
  DATA: 2,
  /** The socket's write queue passed the high-water mark; argument = bytes queued. */
  PAUSE: 3,
  /** The socket drained: resume dispatching and call the app's `drain`. */
  DRAIN: 4,
  /** Start the closing handshake; argument = close code, text = reason (server shutdown). */
  CLOSE: 5,
  /** The TCP connection is gone: call the app's `close` and forget the connection. */
  FINISH: 6,
} as const;

/** Operations from a worker to the main thread. */
export const ToMain = {
  /** Frames for the socket; argument = their length in `bytes`. */
  WRITE: 1,
  /** Close TCP now (after the close handshake, or on a protocol failure). */
  END: 2,
  /** Our close frame is out: arm the close timer. */
  CLOSING: 3,
  /** An application handler threw; text = the error's message and stack. */
  ERROR: 4,
  /** conn.subscribe(); text = pattern. */
  SUBSCRIBE: 5,
  /** conn.unsubscribe(); text = pattern. */
  UNSUBSCRIBE: 6,
  /** conn.publish() of a text message; text = topic, bytes = payload. */
  PUBLISH_TEXT: 7,
  /** conn.publish() of a binary message; text = topic, bytes = payload. */
  PUBLISH_BINARY: 8,
} as const;

export interface Batch {
  ops: Int32Array;
  chunks: Uint8Array[];
  bytes: Uint8Array | null;
  texts: string[];
}

const INITIAL_OPS = 3 * 64;
const INITIAL_BYTES = 16 * 1024;
/** Socket chunks this large are transferred as they are; smaller ones are copied into `bytes`. */
export const TRANSFER_MIN_BYTES = 16 * 1024;

/** Accumulates one turn's operations; `take()` hands them out with their transfer list. */
export class BatchBuilder {
  #ops = new Int32Array(INITIAL_OPS);
  #opCount = 0;
  #chunks: Uint8Array[] = [];
  #texts: string[] = [];
  #bytes: Uint8Array | null = null;
  #bytesUsed = 0;
  /** Index of the last op if it is a WRITE, so consecutive frames of a connection merge. */
  #lastWrite = -1;

  get isEmpty(): boolean {
    return this.#opCount === 0;
  }

  op(op: number, connectionId: number, argument = 0): void {
    if ((this.#opCount + 1) * 3 > this.#ops.length) {
      const grown = new Int32Array(this.#ops.length * 2);
      grown.set(this.#ops);
      this.#ops = grown;
    }
    const at = this.#opCount * 3;
    this.#ops[at] = op;
    this.#ops[at + 1] = connectionId;
    this.#ops[at + 2] = argument;
    this.#opCount++;
    this.#lastWrite = -1;
  }

  /** An op with socket bytes: small ones are copied into `bytes`, large ones transferred. */
  chunk(op: number, connectionId: number, chunk: Uint8Array): void {
    if (chunk.length < TRANSFER_MIN_BYTES || !ownsItsBuffer(chunk)) {
      this.op(op, connectionId, this.#appendBytes(chunk));
    } else {
      this.op(op, connectionId, -1);
      this.#chunks.push(chunk);
    }
  }

  text(op: number, connectionId: number, text: string, argument = 0): void {
    this.op(op, connectionId, argument);
    this.#texts.push(text);
  }

  chunkAndText(op: number, connectionId: number, chunk: Uint8Array, text: string): void {
    this.chunk(op, connectionId, chunk);
    this.#texts.push(text);
  }

  /** Appends frame bytes for a connection, merged with its previous WRITE when adjacent. */
  write(connectionId: number, first: Uint8Array, second?: Uint8Array): void {
    const length = this.#appendBytes(first, second);
    const last = this.#lastWrite;
    if (last >= 0 && this.#ops[last + 1] === connectionId) {
      this.#ops[last + 2] += length;
      return;
    }
    this.op(ToMain.WRITE, connectionId, length);
    this.#lastWrite = (this.#opCount - 1) * 3;
  }

  /** An op whose payload goes to `bytes` (argument = its length) and which carries a text. */
  bytesAndText(op: number, connectionId: number, payload: Uint8Array, text: string): void {
    const length = this.#appendBytes(payload);
    this.op(op, connectionId, length);
    this.#texts.push(text);
  }

  #appendBytes(first: Uint8Array, second?: Uint8Array): number {
    const length = first.length + (second === undefined ? 0 : second.length);
    this.#reserve(length);
    const bytes = this.#bytes!;
    bytes.set(first, this.#bytesUsed);
    if (second !== undefined) bytes.set(second, this.#bytesUsed + first.length);
    this.#bytesUsed += length;
    return length;
  }

  /** The batch and the buffers to transfer with it; the builder starts empty again. */
  take(): { batch: Batch; transfer: ArrayBuffer[] } {
    const ops = this.#ops.slice(0, this.#opCount * 3);
    const bytes = this.#bytes === null ? null : this.#bytes.subarray(0, this.#bytesUsed);
    const transfer: ArrayBuffer[] = [ops.buffer];
    if (bytes !== null) transfer.push(bytes.buffer as ArrayBuffer);
    for (const chunk of this.#chunks) transfer.push(chunk.buffer as ArrayBuffer);
    const batch: Batch = { ops, chunks: this.#chunks, bytes, texts: this.#texts };
    this.#opCount = 0;
    this.#chunks = [];
    this.#texts = [];
    this.#bytes = null;
    this.#bytesUsed = 0;
    this.#lastWrite = -1;
    return { batch, transfer };
  }

  #reserve(length: number): void {
    const needed = this.#bytesUsed + length;
    if (this.#bytes !== null && needed <= this.#bytes.length) return;
    let capacity = this.#bytes === null ? INITIAL_BYTES : this.#bytes.length * 2;
    while (capacity < needed) capacity *= 2;
    // Not zero-filled and not from Node's shared pool, so it can be transferred.
    const grown = new Uint8Array(Buffer.allocUnsafeSlow(capacity).buffer, 0, capacity);
    if (this.#bytes !== null) grown.set(this.#bytes.subarray(0, this.#bytesUsed));
    this.#bytes = grown;
  }
}

/** Ops that carry a chunk or a text, per direction (the rest carry only their argument). */
const CARRIES_CHUNK = new Set<number>([ToWorker.OPEN, ToWorker.DATA]);
const CARRIES_TEXT_TO_WORKER = new Set<number>([ToWorker.OPEN, ToWorker.CLOSE]);
const CARRIES_TEXT_TO_MAIN = new Set<number>([ToMain.ERROR, ToMain.SUBSCRIBE, ToMain.UNSUBSCRIBE, ToMain.PUBLISH_TEXT, ToMain.PUBLISH_BINARY]);
const CARRIES_BYTES_TO_MAIN = new Set<number>([ToMain.WRITE, ToMain.PUBLISH_TEXT, ToMain.PUBLISH_BINARY]);

export type BatchVisitor = (op: number, connectionId: number, argument: number, bytes: Uint8Array | undefined, text: string | undefined) => void;

/** Visits a main → worker batch's ops in order, each with its bytes (a view, no copy) and text. */
export function readToWorker(batch: Batch, visit: BatchVisitor): void {
  const { ops, chunks, bytes, texts } = batch;
  let chunkIndex = 0, textIndex = 0, byteOffset = 0;
  for (let i = 0; i < ops.length; i += 3) {
    const op = ops[i], argument = ops[i + 2];
    let chunk: Uint8Array | undefined;
    if (CARRIES_CHUNK.has(op)) {
      if (argument >= 0) {
        chunk = bytes!.subarray(byteOffset, byteOffset + argument);
        byteOffset += argument;
      } else {
        chunk = chunks[chunkIndex++];
      }
    }
    const text = CARRIES_TEXT_TO_WORKER.has(op) ? texts[textIndex++] : undefined;
    visit(op, ops[i + 1], argument, chunk, text);
  }
}

/** Visits a worker → main batch's ops in order; WRITE and PUBLISH get their slice of `bytes` (a view, no copy). */
export function readToMain(batch: Batch, visit: BatchVisitor): void {
  const { ops, bytes, texts } = batch;
  let byteOffset = 0, textIndex = 0;
  for (let i = 0; i < ops.length; i += 3) {
    const op = ops[i], argument = ops[i + 2];
    let slice: Uint8Array | undefined;
    if (CARRIES_BYTES_TO_MAIN.has(op)) {
      slice = bytes!.subarray(byteOffset, byteOffset + argument);
      byteOffset += argument;
    }
    const text = CARRIES_TEXT_TO_MAIN.has(op) ? texts[textIndex++] : undefined;
    visit(op, ops[i + 1], argument, slice, text);
  }
}

/** True when the view covers its whole ArrayBuffer, which can then be transferred. */
function ownsItsBuffer(view: Uint8Array): boolean {
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer;
}
