/**
 * The RFC 6455 state machine, sans-I/O: `receive(bytes)` turns bytes into events on a sink,
 * `send()` / `close()` / `ping()` turn calls into bytes on an output. No socket, no timer: the
 * transport moves the bytes and owns the clocks, tests drive it byte by byte.
 *
 * Processing can stop between frames, and `receive()` says so (false): when the transport asks
 * (yieldAfterFrame: its budget for this turn is spent, or its send queue is full), and at a large
 * compressed message (RFC 7692) inflated on the thread pool. What follows waits, in order, with
 * the bytes received meanwhile; the transport decides when to go on (proceed()), and pauses its
 * reads until then. The inflate's end is an event (sink.inflated) like any other.
 */
import {
  type FrameCodec, RECORD_CAPACITY, S_CONSUMED, RF_OPCODE, RF_FIN, RF_MASKED, RF_RSV1, RF_UTF8_INVALID,
  RF_NEW_HEADER, RF_LENGTH_MSB_SET, UTF8_ACCEPT, UTF8_REJECT, S_FLAGS, SF_CALLER_VALIDATES_UTF8, SF_IN_FRAME, S_UTF8,
} from '../codec/codec.js';
import {
  RSV_BITS, copyRecords, endsFrame, frameLength, recordCount, recordFlags, segmentLength as segmentLengthOf,
  segmentStart,
} from '../codec/record.js';
import { validateTextSegment } from './utf8-validator.js';
import { encodeFrame, encodeSmallText, type FrameSink } from './frame-encoder.js';
import { CloseCode, isValidWireCloseCode } from './close-codes.js';
import { invalidUtf8, ProtocolError } from './errors.js';
import { RSV1_BIT, type PerMessageDeflateConfig } from './compression.js';
import { MessageDeflater } from './message-deflater.js';
import { MessageInflater, type InflateOutcome } from './message-inflater.js';
import { MessageAssembly } from './message-assembly.js';
import type { InflateBudget } from './inflate-budget.js';
import { SYNC_FLUSH_TAIL } from './compression.js';
import { isLent } from '../codec/lent-memory.js';

export const Opcode = { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

export type Role = 'server' | 'client';

export type { FrameSink };

/** Where the state machine's events go. */
export interface ProtocolSink {
  /** A complete data message; `data` belongs to the receiver. */
  message(data: Buffer, isBinary: boolean): void;
  /** The transport should be closed now (RFC 6455 §7.1.1: the server closes TCP first). */
  closeTransport(): void;
  pong?(data: Buffer): void;
  /**
   * The message that processing stopped at (inflated off the event loop) has been delivered:
   * proceed() goes on with what followed it.
   */
  inflated?(): void;
}

export interface ProtocolOptions {
  role: Role;
  /** Largest message (and frame) accepted, in bytes; larger closes with 1009. */
  maxPayload: number;
  /** RSV bits granted by a negotiated extension (RF_RSV1 | RF_RSV2 | RF_RSV3 bits). */
  allowedRsv?: number;
  /** permessage-deflate as the opening handshake negotiated it (RFC 7692); grants RSV1. */
  deflate?: PerMessageDeflateConfig;
  /**
   * Who validates the UTF-8 of text messages: 'native' (default) picks isUtf8 or a streaming
   * validator per segment (src/protocol/utf8-validator.ts); 'codec' leaves it to the codec's scan.
   */
  utf8Validator?: Utf8ValidatorChoice;
  /**
   * The thread's bound on inflated output held at once (RFC 7692 messages inflated off the event
   * loop wait for room in it); unbounded without.
   */
  inflateBudget?: InflateBudget;
  /**
   * A message that arrives whole in one read is handed to sink.message() as a view of the bytes
   * read, valid only during that call (no copy when the codec reuses its memory); others own theirs.
   */
  messageView?: boolean;
}

export type Utf8ValidatorChoice = 'native' | 'codec';

export const enum ReadyState { OPEN = 1, CLOSING = 2, CLOSED = 3 }

// WebSocketProtocol's #bits. An idle connection's memory is mostly its objects' fields.
/** Text messages are checked here, not by the codec's scan (utf8Validator 'native', or compression). */
const VALIDATES_UTF8 = 1;
/** A message is being inflated asynchronously; #suspension holds what comes after it. */
const INFLATING = 2;
/** The transport asked processing to stop after the frame being handled (yieldAfterFrame). */
const YIELD_REQUESTED = 4;
const CLOSE_SENT = 8;
const CLOSE_RECEIVED = 16;
/** A data message (possibly fragmented) is being received; the next two bits describe it. */
const IN_MESSAGE = 32;
const MESSAGE_IS_BINARY = 64;
/** RFC 7692 §6: the message's first frame had RSV1 set; its payload is DEFLATE data. */
const MESSAGE_COMPRESSED = 128;
/** ProtocolOptions.messageView. */
const LENDS_MESSAGES = 256;

/** RFC 6455 §5.5: a control frame's payload is at most 125 bytes, so a close reason at most 123. */
const MAX_CONTROL_PAYLOAD = 125;
const MAX_CLOSE_REASON_BYTES = 123;
/**
 * A frame's header reserves room for at most this much of its payload; the rest of a larger
 * frame grows the buffer as it arrives, so a peer that announces a huge frame and trickles it
 * costs no more than it has sent.
 */
const PREALLOCATE_MAX_BYTES = 1024 * 1024;
/**
 * Lent payloads from this size on are written to the kernel on their own (a system call each);
 * smaller ones are copied and leave with the read's other replies (uWebSockets.js's cork buffer
 * is 16 KiB).
 */
const WRITE_LENT_MIN_BYTES = 16 * 1024;
const EMPTY = Buffer.alloc(0);

/** A Buffer over work[start, start + length): no copy. */
function view(work: Uint8Array, start: number, length: number): Buffer {
  return length === 0 ? EMPTY : Buffer.from(work.buffer, work.byteOffset + start, length);
}

/** A frame's header and its payload copied into one buffer. */
function joined(header: Uint8Array, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(header.length + payload.length);
  frame.set(header);
  frame.set(payload, header.length);
  return frame;
}

/**
 * Scan states not lent to any connection of this thread. Both codecs' states are plain
 * Uint32Arrays of SCAN_STATE_WORDS, so one pool serves both. A read lends one for its scan and
 * takes it back unless a frame is left partly received: the pool holds a handful.
 */
const spareStates: Uint32Array[] = [];
const MAX_SPARE_STATES = 64;

/** Where processing stopped: after a frame the transport asked to yield at, or at an async inflate. */
interface Suspension {
  /** Records of the read that brought the message, after its last frame, and the bytes they point into. */
  records: Int32Array;
  /** The index of the next record to handle. */
  next: number;
  work: Uint8Array;
  /** Bytes not scanned yet: the rest of that read, then reads that came meanwhile. */
  input: Uint8Array[];
}

export class WebSocketProtocol {
  readyState = ReadyState.OPEN;
  /** The code of the close frame received, 1005 if it had none, 1006 if none arrived. */
  closeCode: number = CloseCode.ABNORMAL;
  closeReason = '';
  /** Set when the connection was failed for a protocol violation. */
  error: ProtocolError | undefined;

  readonly #codec: FrameCodec;
  readonly #sink: ProtocolSink;
  readonly #output: FrameSink;
  readonly #role: Role;
  readonly #maxPayload: number;
  readonly #allowedRsv: number;
  /**
   * The codec's scan state, lent only while a frame is partly received (or processing is
   * suspended); between frames all that survives of it is #restFlags and #restUtf8, so an idle
   * connection holds no typed array (a Uint32Array costs about 300 bytes with its backing store).
   */
  #scanState: Uint32Array | undefined;
  #restFlags: number;
  #restUtf8 = UTF8_ACCEPT;
  readonly #inflater: MessageInflater | undefined;
  readonly #deflater: MessageDeflater | undefined;
  /** Abandons the inflate in progress (and gives back its share of the budget) when the connection ends. */
  #abandonInflate: (() => void) | undefined;
  readonly #inflateBudget: InflateBudget | undefined;
  #suspension: Suspension | undefined;
  /** Streaming UTF-8 state of the text message being received (when VALIDATES_UTF8). */
  #utf8State = UTF8_ACCEPT;
  /** The machine's yes/no state as bits (VALIDATES_UTF8, INFLATING, ...): one field, not eight. */
  #bits = 0;
  #pending: Uint8Array | null = null;

  // The data message being received (possibly fragmented), besides its IN_MESSAGE bits.
  #messageLength = 0;
  /** The payload of a message that did not arrive whole in one segment; made on first need. */
  #assembly: MessageAssembly | undefined;
  // The control frame being received when its payload spans reads: an exact-size buffer.
  #control: Buffer | undefined;
  #controlFilled = 0;

  /** Frames go to `output`, or to the sink itself when it has write() (a test's recorder, the load generator). */
  constructor(codec: FrameCodec, sink: ProtocolSink & FrameSink, options: ProtocolOptions);
  constructor(codec: FrameCodec, sink: ProtocolSink, options: ProtocolOptions, output: FrameSink);
  constructor(codec: FrameCodec, sink: ProtocolSink, options: ProtocolOptions, output?: FrameSink) {
    this.#codec = codec;
    this.#sink = sink;
    this.#output = output ?? sink as ProtocolSink & FrameSink;
    this.#role = options.role;
    this.#maxPayload = options.maxPayload;
    this.#allowedRsv = options.allowedRsv ?? 0;
    this.#inflateBudget = options.inflateBudget;
    if (options.deflate !== undefined) {
      this.#inflater = new MessageInflater(options.deflate.negotiated.receive);
      this.#deflater = new MessageDeflater(options.deflate.negotiated.send, options.deflate.compressor);
      this.#allowedRsv |= RF_RSV1;
    }
    // Compressed text can only be checked once inflated: the codec's scan must not check it.
    if ((options.utf8Validator ?? 'native') === 'native' || this.#inflater !== undefined) this.#bits |= VALIDATES_UTF8;
    this.#restFlags = (this.#bits & VALIDATES_UTF8) !== 0 ? SF_CALLER_VALIDATES_UTF8 : 0;
    if (options.messageView === true) this.#bits |= LENDS_MESSAGES;
  }

  /**
   * Bytes kept between messages for permessage-deflate: the context-takeover windows (RFC 7692
   * §7.1.1), 0 without context takeover. No zlib context outlives a message.
   */
  get compressionWindowBytes(): number {
    return (this.#inflater?.retainedBytes ?? 0) + (this.#deflater?.retainedBytes ?? 0);
  }

  /**
   * Read-only: every byte received so far has been handled and the next starts a frame outside
   * any message (no partial frame or header kept, no fragmented message, nothing suspended or
   * being inflated). A transport may then read data frames on its own until the next other frame.
   */
  get isBetweenMessages(): boolean {
    return this.#scanState === undefined && this.#pending === null && (this.#bits & IN_MESSAGE) === 0
      && this.#suspension === undefined && (this.#bits & INFLATING) === 0;
  }

  /**
   * Processing stopped and kept what follows (see receive()); proceed() goes on with it. A
   * transport reads nothing meanwhile (what it does read is kept too, in order).
   */
  get isStopped(): boolean {
    return this.#suspension !== undefined;
  }

  /** Processing stopped at a message being inflated off the event loop: sink.inflated() follows. */
  get isInflating(): boolean {
    return (this.#bits & INFLATING) !== 0;
  }

  /**
   * Asks processing to stop after the frame being handled (or the next one, when none is): the
   * transport's budget for this turn is spent, or its peer is not reading the replies. Holds
   * until processing next stops or catches up.
   */
  yieldAfterFrame(): void {
    this.#bits |= YIELD_REQUESTED;
  }

  /**
   * Feeds bytes received from the transport. Returns true when everything received so far has
   * been handled (or the connection is closed), false when processing stopped (isStopped): the
   * rest waits for proceed().
   */
  receive(chunk: Uint8Array): boolean {
    // RFC 6455 §5.5.1: after a close frame, nothing more is read.
    if ((this.#bits & CLOSE_RECEIVED) !== 0 || this.readyState === ReadyState.CLOSED || chunk.length === 0) return this.#suspension === undefined;
    const limit = this.#codec.maxChunkBytes;
    if (chunk.length > limit) {
      for (let at = 0; at < chunk.length; at += limit) this.receive(chunk.subarray(at, at + limit));
      return this.#suspension === undefined;
    }
    if (this.#suspension !== undefined) {
      // Read before the transport paused: kept for after the inflate or the turn that stopped us.
      this.#suspension.input.push(new Uint8Array(chunk));
      return false;
    }
    const codec = this.#codec;
    // Allocations per read, not per message: this view of the bytes scan() works on, and (below)
    // a copy of a partial header left over. Per message: its Buffer (#own or the assembly).
    const work = codec.load(this.#pending, chunk);
    this.#pending = null;
    let start = 0;
    const state = this.#scanState ?? this.#lendState();
    for (;;) {
      const count = codec.scan(state, work, start);
      const records = codec.records;
      for (let i = 0; i < count; i++) {
        if (!this.#handleRecord(records, i, work)) return true;
        if (this.#mustStop(records, i)) {
          this.#suspend(copyRecords(records, i + 1, count), work);
          return false;
        }
      }
      start = state[S_CONSUMED];
      if (count < RECORD_CAPACITY) break;
    }
    if ((state[S_FLAGS] & SF_IN_FRAME) === 0) this.#returnState(state);
    // At most a partial frame header is left over; copy it since `work` may be reused.
    if (start < work.length) this.#pending = work.slice(start);
    this.#bits &= ~YIELD_REQUESTED;
    return true;
  }

  #lendState(): Uint32Array {
    const state = spareStates.pop() ?? this.#codec.createState();
    // Between frames the rest of the state is dead: a new header sets it (both codecs).
    state.fill(0);
    state[S_FLAGS] = this.#restFlags;
    state[S_UTF8] = this.#restUtf8;
    this.#scanState = state;
    return state;
  }

  #returnState(state: Uint32Array): void {
    this.#restFlags = state[S_FLAGS]!;
    this.#restUtf8 = state[S_UTF8]!;
    this.#scanState = undefined;
    if (spareStates.length < MAX_SPARE_STATES) spareStates.push(state);
  }

  /** The transport reached end of stream or broke. */
  receiveEnd(): void {
    if (this.readyState === ReadyState.CLOSED) return;
    this.readyState = ReadyState.CLOSED;
    this.#suspension = undefined;
    this.#stopInflating();
    if ((this.#bits & CLOSE_RECEIVED) === 0) this.closeCode = CloseCode.ABNORMAL;
  }

  /** Sends a data message: strings as text unless isBinary, bytes as binary unless isBinary is false. */
  send(data: string | Uint8Array, isBinary?: boolean): boolean {
    if (this.readyState !== ReadyState.OPEN) return false;
    const isString = typeof data === 'string';
    const opcode = (isString ? isBinary === true : isBinary !== false) ? Opcode.BINARY : Opcode.TEXT;
    const deflater = this.#deflater;
    let payload: Uint8Array;
    let rsv = 0;
    if (deflater !== undefined && deflater.compresses(isString ? Buffer.byteLength(data, 'utf8') : data.length)) {
      // RFC 7692 §6: a compressed message has RSV1 set on its (first and only) frame.
      payload = deflater.compress(isString ? Buffer.from(data, 'utf8') : data);
      rsv = RSV1_BIT;
    } else if (isString) {
      const frame = encodeSmallText(this.#role, opcode, data);
      if (frame !== undefined) {
        this.#output.write(frame);
        return true;
      }
      payload = Buffer.from(data, 'utf8');
    } else {
      payload = data;
    }
    // Written here, not through a helper: the application's send is three calls from the socket.
    const frame = encodeFrame(this.#codec, this.#role, opcode, payload, rsv);
    const output = this.#output;
    if (frame.length > payload.length) output.write(frame);
    else if (!isLent(payload)) output.write(frame, payload);
    // A payload in memory the codec reuses (a message view sent back) is gone once the next read
    // lands: a large one is written to the kernel now (writeLent), a smaller one copied into its frame.
    else if (payload.length >= WRITE_LENT_MIN_BYTES && output.writeLent !== undefined) output.writeLent(frame, payload);
    else output.write(joined(frame, payload));
    return true;
  }

  ping(data: Uint8Array = Buffer.alloc(0)): void {
    if (this.readyState !== ReadyState.OPEN) return;
    if (data.length > MAX_CONTROL_PAYLOAD) throw new RangeError('a ping payload is at most 125 bytes');
    this.#sendFrame(Opcode.PING, data);
  }

  /** A control frame (whole, since its payload is at most 125 bytes). */
  #sendFrame(opcode: number, payload: Uint8Array): void {
    this.#output.write(encodeFrame(this.#codec, this.#role, opcode, payload));
  }

  /** Starts the closing handshake (RFC 6455 §7.1.2). */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if ((this.#bits & CLOSE_SENT) !== 0 || this.readyState === ReadyState.CLOSED) return;
    this.#sendClose(code, reason);
    this.readyState = ReadyState.CLOSING;
  }

  /** Handles record i of `records`; returns false when processing must stop (the connection failed or closed). */
  #handleRecord(records: Int32Array, i: number, work: Uint8Array): boolean {
    // The flags word is read once and its RF_* bits tested in place: on this path the per-bit
    // accessors of record.ts measured slower than one read.
    const flags = recordFlags(records, i);
    const opcode = flags & RF_OPCODE;
    const segmentLength = segmentLengthOf(records, i);
    const frameDone = endsFrame(records, i);
    const start = segmentStart(records, i);
    if ((flags & RF_NEW_HEADER) !== 0) {
      const length = frameLength(records, i);
      const error = this.#checkHeader(flags, opcode, length);
      if (error !== undefined) return this.#fail(error);
      if (frameDone) {
        // The common case: a whole frame in this read, its payload handed on without assembly.
        if (opcode >= 8) return this.#handleControlFrame(opcode, this.#own(work, start, segmentLength));
        if ((flags & RF_FIN) !== 0 && opcode !== Opcode.CONTINUATION && (this.#bits & MESSAGE_COMPRESSED) === 0) {
          if ((flags & RF_UTF8_INVALID) !== 0) return this.#fail(invalidUtf8());
          if ((this.#bits & (VALIDATES_UTF8 | MESSAGE_IS_BINARY)) === VALIDATES_UTF8
            && validateTextSegment(work, start, segmentLength, UTF8_ACCEPT) !== UTF8_ACCEPT) return this.#fail(invalidUtf8());
          this.#bits &= ~IN_MESSAGE;
          if ((this.#bits & CLOSE_SENT) === 0) {
            const data = (this.#bits & LENDS_MESSAGES) !== 0 ? view(work, start, segmentLength) : this.#own(work, start, segmentLength);
            this.#sink.message(data, (this.#bits & MESSAGE_IS_BINARY) !== 0);
          }
          return true;
        }
      } else if (opcode >= 8) {
        this.#control = Buffer.allocUnsafe(length); // RFC 6455 §5.5: at most 125 bytes
        this.#controlFilled = 0;
      } else {
        this.#assemblyOf().reserve(Math.min(length, PREALLOCATE_MAX_BYTES));
      }
    }
    if ((flags & RF_UTF8_INVALID) !== 0) return this.#fail(invalidUtf8());
    if (opcode >= 8) {
      const control = this.#control!;
      control.set(work.subarray(start, start + segmentLength), this.#controlFilled);
      this.#controlFilled += segmentLength;
      if (!frameDone) return true;
      this.#control = undefined;
      return this.#handleControlFrame(opcode, control);
    }
    if (segmentLength > 0) {
      if ((this.#bits & (VALIDATES_UTF8 | MESSAGE_IS_BINARY | MESSAGE_COMPRESSED)) === VALIDATES_UTF8) {
        // Fail fast: each segment is checked as it arrives, not at the end of the message.
        this.#utf8State = validateTextSegment(work, start, segmentLength, this.#utf8State);
        if (this.#utf8State === UTF8_REJECT) return this.#fail(invalidUtf8());
      }
      this.#assemblyOf().append(work, start, segmentLength);
    }
    if (!frameDone || (flags & RF_FIN) === 0) return true;
    if ((this.#bits & MESSAGE_COMPRESSED) !== 0) return this.#inflateMessage();
    // A text message must end on a character boundary.
    if ((this.#bits & (VALIDATES_UTF8 | MESSAGE_IS_BINARY)) === VALIDATES_UTF8 && this.#utf8State !== UTF8_ACCEPT) return this.#fail(invalidUtf8());
    this.#deliverMessage();
    return true;
  }

  /** Idle connections and those whose messages arrive whole never make one. */
  #assemblyOf(): MessageAssembly {
    return (this.#assembly ??= new MessageAssembly(this.#maxPayload, (this.#bits & LENDS_MESSAGES) !== 0));
  }

  /**
   * A payload that arrived whole, as a Buffer of the receiver's own: a copy when the codec's
   * memory is reused by the next read (WASM), else a view of the chunk the transport gave us.
   */
  #own(work: Uint8Array, start: number, length: number): Buffer {
    if (length === 0) return EMPTY;
    if (this.#codec.payloadIsBorrowed) {
      // allocUnsafe + set measured a little faster than Buffer.copyBytesFrom or Buffer.from(view).
      const own = Buffer.allocUnsafe(length);
      own.set(work.subarray(start, start + length));
      return own;
    }
    return view(work, start, length);
  }

  #checkHeader(flags: number, opcode: number, length: number): ProtocolError | undefined {
    // RFC 6455 §5.2: RSV bits are 0 unless an extension defines them.
    if ((flags & RSV_BITS & ~this.#allowedRsv) !== 0) {
      return new ProtocolError(CloseCode.PROTOCOL_ERROR, 'WS_ERR_UNEXPECTED_RSV', 'RSV bits set without a negotiated extension');
    }
    // RFC 7692 §6.1: RSV1 marks a compressed message on its first frame only, never on a
    // control frame or a continuation.
    if ((flags & RF_RSV1) !== 0 && (opcode === Opcode.CONTINUATION || opcode >= 8)) {
      return new ProtocolError(CloseCode.PROTOCOL_ERROR, 'WS_ERR_UNEXPECTED_RSV_1', 'RSV1 set on a control or continuation frame');
    }
    // RFC 6455 §5.2: opcodes 3-7 and 11-15 are reserved.
    if ((opcode > 2 && opcode < 8) || opcode > 10) {
      return new ProtocolError(CloseCode.PROTOCOL_ERROR, 'WS_ERR_INVALID_OPCODE', `reserved opcode ${opcode}`);
    }
    // RFC 6455 §5.1: clients mask every frame; servers mask none.
    const masked = (flags & RF_MASKED) !== 0;
    if (this.#role === 'server' && !masked) {
      return new ProtocolError(CloseCode.PROTOCOL_ERROR, 'WS_ERR_EXPECTED_MASK', 'client frames must be masked');
    }
    if (this.#role === 'client' && masked) {
      return new ProtocolError(CloseCode.PROTOCOL_ERROR, 'WS_ERR_UNEXPECTED_MASK', 'server frames must not be masked');
    }
    // RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0.
    if ((flags & RF_LENGTH_MSB_SET) !== 0) {
      return new ProtocolError(CloseCode.PROTOCOL_ERROR, 'WS_ERR_INVALID_LENGTH', '64-bit payload length has its top bit set');
    }
    if (opcode >= 8) {
      // RFC 6455 §5.5: control frames are not fragmented and carry at most 125 bytes.
      if ((flags & RF_FIN) === 0) {
        return new ProtocolError(CloseCode.PROTOCOL_ERROR, 'WS_ERR_FRAGMENTED_CONTROL', 'fragmented control frame');
      }
      if (length > MAX_CONTROL_PAYLOAD) {
        return new ProtocolError(CloseCode.PROTOCOL_ERROR, 'WS_ERR_CONTROL_TOO_LONG', 'control frame payload over 125 bytes');
      }
      return undefined;
    }
    // RFC 6455 §5.4: a continuation continues a started message; a new message waits for FIN.
    if (opcode === Opcode.CONTINUATION && (this.#bits & IN_MESSAGE) === 0) {
      return new ProtocolError(CloseCode.PROTOCOL_ERROR, 'WS_ERR_UNEXPECTED_CONTINUATION', 'continuation frame without a message to continue');
    }
    if (opcode !== Opcode.CONTINUATION && (this.#bits & IN_MESSAGE) !== 0) {
      return new ProtocolError(CloseCode.PROTOCOL_ERROR, 'WS_ERR_EXPECTED_CONTINUATION', 'new data frame inside a fragmented message');
    }
    if (opcode !== Opcode.CONTINUATION) {
      this.#bits = (this.#bits & ~(MESSAGE_IS_BINARY | MESSAGE_COMPRESSED)) | IN_MESSAGE
        | (opcode === Opcode.BINARY ? MESSAGE_IS_BINARY : 0) | ((flags & RF_RSV1) !== 0 ? MESSAGE_COMPRESSED : 0);
      this.#messageLength = 0;
      this.#utf8State = UTF8_ACCEPT;
    }
    this.#messageLength += length;
    if (this.#messageLength > this.#maxPayload) {
      return new ProtocolError(CloseCode.MESSAGE_TOO_BIG, 'WS_ERR_MESSAGE_TOO_BIG', `message over the ${this.#maxPayload}-byte limit`);
    }
    return undefined;
  }

  #deliverMessage(): void {
    const assembly = this.#assembly;
    this.#bits &= ~IN_MESSAGE;
    // After our close frame, the application has said goodbye: data is read but not delivered.
    const delivers = (this.#bits & CLOSE_SENT) === 0;
    if (assembly?.canLend === true) {
      const data = assembly.lend();
      if (delivers) this.#sink.message(data, (this.#bits & MESSAGE_IS_BINARY) !== 0);
      assembly.giveBack();
      return;
    }
    const data = assembly?.take() ?? EMPTY; // fragments that were all empty
    if (delivers) this.#sink.message(data, (this.#bits & MESSAGE_IS_BINARY) !== 0);
  }

  /**
   * RFC 7692 §7.2.2: the message's payload is DEFLATE data; maxPayload bounds the inflated size.
   * Returns false when the connection failed. A message too large to inflate on the spot goes
   * to the thread pool: INFLATING tells receive() to stop after this record.
   */
  #inflateMessage(): boolean {
    // RFC 7692 §7.2.2: the receiver appends 0x00 0x00 0xff 0xff before inflating.
    const assembly = this.#assemblyOf();
    assembly.append(SYNC_FLUSH_TAIL);
    const compressed = assembly.take();
    const isBinary = (this.#bits & MESSAGE_IS_BINARY) !== 0;
    this.#bits &= ~IN_MESSAGE;
    const inflater = this.#inflater!;
    const outcome = inflater.inflateSync(compressed, this.#maxPayload, !isBinary);
    if (outcome !== undefined) return this.#deliverInflated(outcome, isBinary);
    this.#bits |= INFLATING;
    this.#abandonInflate = inflater.inflateAsync(compressed, this.#maxPayload, !isBinary, this.#inflateBudget, (late) => {
      this.#bits &= ~INFLATING;
      this.#abandonInflate = undefined;
      if (this.readyState === ReadyState.CLOSED) return; // TCP closed meanwhile
      if (this.#deliverInflated(late, isBinary)) this.#sink.inflated?.();
    });
    return true;
  }

  #stopInflating(): void {
    const abandon = this.#abandonInflate;
    if (abandon === undefined) return;
    this.#abandonInflate = undefined;
    this.#bits &= ~INFLATING;
    abandon();
  }

  #deliverInflated(outcome: InflateOutcome, isBinary: boolean): boolean {
    if (outcome instanceof ProtocolError) return this.#fail(outcome);
    if ((this.#bits & CLOSE_SENT) === 0) this.#sink.message(outcome, isBinary);
    return true;
  }

  /**
   * Keeps what follows the record processing stopped at: the rest of its read's records, the
   * bytes they point into (copied when the codec reuses them) and the bytes not scanned yet.
   */
  #suspend(records: Int32Array, work: Uint8Array): void {
    const consumed = this.#scanState![S_CONSUMED];
    const input = consumed < work.length ? [new Uint8Array(work.subarray(consumed))] : [];
    const kept = this.#codec.payloadIsBorrowed ? new Uint8Array(work.subarray(0, consumed)) : work;
    this.#suspension = { records, next: 0, work: kept, input };
  }

  /** After a record: true when processing must stop here, for an async inflate or at the transport's request. */
  #mustStop(records: Int32Array, i: number): boolean {
    if ((this.#bits & INFLATING) !== 0) {
      this.#bits &= ~YIELD_REQUESTED;
      return true;
    }
    if ((this.#bits & YIELD_REQUESTED) === 0 || !endsFrame(records, i)) return false;
    this.#bits &= ~YIELD_REQUESTED;
    return true;
  }

  /**
   * Goes on where processing stopped, until done or the next stop (an async inflate, the
   * transport's request). Returns as receive() does; a no-op while a message is being inflated.
   */
  proceed(): boolean {
    const suspension = this.#suspension;
    if (suspension === undefined) return true;
    if ((this.#bits & INFLATING) !== 0) return false;
    this.#suspension = undefined;
    const { records, work, input } = suspension;
    const count = recordCount(records);
    for (let i = suspension.next; i < count; i++) {
      if (!this.#handleRecord(records, i, work)) return true;
      if (this.#mustStop(records, i)) {
        this.#suspension = { ...suspension, next: i + 1 };
        return false;
      }
    }
    while (input.length > 0) {
      // receive() may stop again, at another message to inflate or a frame to yield at.
      if (!this.receive(input.shift()!)) {
        this.#suspension!.input.push(...input);
        return false;
      }
    }
    this.#bits &= ~YIELD_REQUESTED;
    return true;
  }

  #handleControlFrame(opcode: number, payload: Buffer): boolean {
    if (opcode === Opcode.PING) {
      // RFC 6455 §5.5.2: answer with a pong carrying the same payload, unless we are closing.
      if ((this.#bits & CLOSE_SENT) === 0) this.#sendFrame(Opcode.PONG, payload);
      return true;
    }
    if (opcode === Opcode.PONG) {
      this.#sink.pong?.(payload);
      return true;
    }
    return this.#handleCloseFrame(payload);
  }

  #handleCloseFrame(payload: Buffer): boolean {
    // RFC 6455 §5.5.1: a close payload is empty or a 2-byte code plus a UTF-8 reason.
    if (payload.length === 1) {
      return this.#fail(new ProtocolError(CloseCode.PROTOCOL_ERROR, 'WS_ERR_INVALID_CLOSE_PAYLOAD', 'close frame with a 1-byte payload'));
    }
    let code: number = CloseCode.NO_STATUS;
    let reason = '';
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!isValidWireCloseCode(code)) {
        return this.#fail(new ProtocolError(CloseCode.PROTOCOL_ERROR, 'WS_ERR_INVALID_CLOSE_CODE', `invalid close code ${code}`));
      }
      if (this.#codec.validateUtf8(payload, 2, payload.length - 2, UTF8_ACCEPT) !== UTF8_ACCEPT) {
        return this.#fail(new ProtocolError(CloseCode.INVALID_PAYLOAD, 'WS_ERR_INVALID_UTF8', 'close reason is not valid UTF-8'));
      }
      reason = payload.toString('utf8', 2);
    }
    this.#bits |= CLOSE_RECEIVED;
    this.closeCode = code;
    this.closeReason = reason;
    // RFC 6455 §5.5.1: reply with a close frame echoing the code (none if none was given).
    if ((this.#bits & CLOSE_SENT) === 0) {
      if (code === CloseCode.NO_STATUS) this.#sendFrame(Opcode.CLOSE, Buffer.alloc(0));
      else this.#sendClose(code, '');
      this.#bits |= CLOSE_SENT;
    }
    this.readyState = ReadyState.CLOSED;
    if (this.#role === 'server') this.#sink.closeTransport();
    return false;
  }

  /** RFC 6455 §7.1.7 "Fail the WebSocket Connection": a close frame with the code, then drop TCP. */
  #fail(error: ProtocolError): boolean {
    this.error = error;
    if ((this.#bits & CLOSE_SENT) === 0) this.#sendClose(error.closeCode, '');
    this.closeCode = error.closeCode;
    this.closeReason = error.message;
    this.readyState = ReadyState.CLOSED;
    this.#assembly?.clear();
    this.#control = undefined;
    this.#suspension = undefined;
    this.#stopInflating();
    this.#sink.closeTransport();
    return false;
  }

  #sendClose(code: number, reason: string): void {
    const reasonBytes = Buffer.from(reason, 'utf8');
    if (reasonBytes.length > MAX_CLOSE_REASON_BYTES) throw new RangeError('a close reason is at most 123 bytes of UTF-8');
    const payload = Buffer.allocUnsafe(2 + reasonBytes.length);
    payload.writeUInt16BE(code, 0);
    reasonBytes.copy(payload, 2);
    this.#bits |= CLOSE_SENT;
    this.#sendFrame(Opcode.CLOSE, payload);
  }
}
