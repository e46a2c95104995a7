/**
 * One client connection of the load generator: a raw `net` socket, the opening handshake by hand,
 * then our sans-I/O WebSocketProtocol in the client role (it masks what we send and validates what
 * the server sends). The scenario sees open / message / end; every way a connection can fail ends
 * in exactly one error kind (see errors.ts).
 */
import { connect, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { FrameCodec } from '../codec/codec.js';
import { Opcode, ReadyState, WebSocketProtocol, type ProtocolSink } from '../protocol/protocol.js';
import { CloseCode } from '../protocol/close-codes.js';
import type { PerMessageDeflateConfig } from '../protocol/compression.js';
import type { LoadTarget } from './options.js';
import { deflateOfferHeader, readDeflateAnswer, type ClientDeflateOffer } from './deflate.js';
import { socketErrorKind } from './errors.js';
import { DataFrameReader, type DataFrameHandler } from './data-frame-reader.js';
import { FrameBuffers, maskedFrame, REUSE_MIN_BYTES } from './frame-writer.js';
import type { SendTimes } from './send-times.js';
import { checkResponseHead, createClientHandshake, findHeadEnd, MAX_RESPONSE_HEAD_BYTES, responseHeader } from './handshake.js';

export const enum ConnState { CONNECTING, HANDSHAKE, OPEN, CLOSING, CLOSED }

/** The error kind of an attempt cut short because the run stopped: counted apart, not an error. */
export const ABANDONED = 'abandoned';

/** Server frames up to this size are accepted; a load test does not police message size. */
const CLIENT_MAX_PAYLOAD = 1024 * 1024 * 1024;

export interface ConnectionEvents {
  /**
   * The handshake completed; `handshakeMs` runs from the TCP connect call to the 101.
   * `compressed`: permessage-deflate is in use (only ever true when it was offered).
   */
  opened(conn: LoadConnection, handshakeMs: number, compressed: boolean): void;
  message(conn: LoadConnection, data: Buffer, isBinary: boolean): void;
  /**
   * The connection is finished (TCP closed). `error` is its error kind, undefined for a clean
   * close that we started; `wasOpen` tells whether the handshake had completed.
   */
  ended(conn: LoadConnection, error: string | undefined, wasOpen: boolean): void;
}

export interface ConnectionSettings {
  target: LoadTarget;
  codec: FrameCodec;
  handshakeTimeoutMs: number;
  localAddress?: string;
  /** `--deflate`: offer permessage-deflate. */
  deflate?: ClientDeflateOffer;
  /**
   * The scenario counts data frames without their messages (see data-frame-reader.ts); used
   * unless permessage-deflate is agreed. Over plain TCP, reads go into `readBuffer` when given,
   * shared by the shard's connections (a read is handled whole before the next).
   */
  dataFrames?: { handler: DataFrameHandler<LoadConnection>; expected: Buffer; headBytes?: number; readBuffer?: Buffer };
}

export class LoadConnection implements ProtocolSink {
  state = ConnState.CONNECTING;
  /** Scenario state, kept here so every connection has the same shape (no side maps). */
  nextSeq = 0;
  expectedSeq = 0;
  inFlight = 0;
  isPublisher = false;
  /** Position in the shard's list of open connections, -1 when not in it. */
  slot = -1;
  /** Id of the last write batch that corked this socket (see CorkBatch). */
  batch = 0;
  /** performance.now() when the bytes being handled were read: one clock read per read, not per message. */
  readAt = 0;
  /** Paced echo: the actual send times of the messages in flight, for their service time. */
  sendTimes: SendTimes | undefined = undefined;

  readonly index: number;
  readonly #events: ConnectionEvents;
  readonly #socket: Socket;
  readonly #expectedAccept: string;
  readonly #deflateOffer: ClientDeflateOffer | undefined;
  /** permessage-deflate as agreed: data frames then go through the protocol, which compresses. */
  #deflate: PerMessageDeflateConfig | undefined;
  /** The protocol is created with it once the handshake completes. */
  readonly #codec: FrameCodec;
  #protocol: WebSocketProtocol | undefined;
  readonly #dataFrames: ConnectionSettings['dataFrames'];
  /** Reads data frames; a frame it does not take goes to the protocol (see #receive). */
  #reader: DataFrameReader<LoadConnection> | undefined;
  /** The protocol reads: from a frame the reader did not take until it is between messages again. */
  #protocolReads = false;
  #frames: FrameBuffers | undefined;
  #head: Buffer | null = null;
  #startedAt: number;
  #timer: NodeJS.Timeout | undefined;
  #error: string | undefined;

  constructor(index: number, settings: ConnectionSettings, events: ConnectionEvents) {
    this.index = index;
    this.#events = events;
    this.#deflateOffer = settings.deflate;
    const handshake = createClientHandshake(settings.target, settings.deflate === undefined ? undefined : deflateOfferHeader(settings.deflate));
    this.#expectedAccept = handshake.expectedAccept;
    this.#startedAt = performance.now();
    const { target } = settings;
    this.#dataFrames = settings.dataFrames;
    const endpoint = { host: target.host, port: target.port, localAddress: settings.localAddress, noDelay: true };
    const readBuffer = target.secure ? undefined : settings.dataFrames?.readBuffer;
    const socket = target.secure
      ? connectTls({ ...endpoint, servername: isIP(target.host) === 0 ? target.host : undefined, rejectUnauthorized: !target.insecure })
      : connect(readBuffer === undefined ? endpoint
        : { ...endpoint, onread: { buffer: readBuffer, callback: (bytes: number, buffer: Uint8Array) => this.#onRead(buffer as Buffer, bytes) } });
    this.#socket = socket;
    socket.once(target.secure ? 'secureConnect' : 'connect', () => {
      this.state = ConnState.HANDSHAKE;
      socket.write(handshake.request);
    });
    if (readBuffer === undefined) socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => this.#setError(socketErrorKind(error)));
    socket.once('close', () => this.#onClose());
    this.#timer = setTimeout(() => {
      this.#setError('timeout');
      socket.destroy();
    }, settings.handshakeTimeoutMs);
    this.#codec = settings.codec;
  }

  get isOpen(): boolean {
    return this.state === ConnState.OPEN;
  }

  /** Bytes queued on the socket, not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  /** Sends one data message as a masked copy; `payload` stays the caller's to reuse. */
  send(payload: Uint8Array, isBinary: boolean): boolean {
    // Data frames take the pooled-key fast path (frame-writer.ts) while the protocol is open.
    if (this.#protocol === undefined || this.#protocol.readyState !== ReadyState.OPEN) return false;
    if (this.#deflate !== undefined) return this.#protocol.send(payload, isBinary);
    const opcode = isBinary ? Opcode.BINARY : Opcode.TEXT;
    if (payload.length < REUSE_MIN_BYTES) {
      this.#socket.write(maskedFrame(this.#codec, opcode, payload));
      return true;
    }
    this.#socket.write((this.#frames ??= new FrameBuffers()).frame(this.#codec, opcode, payload));
    if (this.#socket.writableCorked === 0) this.#afterWrite();
    return true;
  }

  /** Once the socket has handed all it queued to the kernel, its frame buffers are free again. */
  #afterWrite(): void {
    if (this.#frames !== undefined && this.#socket.writableLength === 0) this.#frames.written();
  }

  sendText(text: string): boolean {
    return this.#protocol !== undefined && this.#protocol.send(text);
  }

  cork(): void {
    this.#socket.cork();
  }

  uncork(): void {
    this.#socket.uncork();
    if (this.#socket.writableCorked === 0) this.#afterWrite();
  }

  /** Starts our closing handshake (1000); the server answers and closes TCP first (RFC 6455 §7.1.1). */
  close(): void {
    if (this.state === ConnState.OPEN) {
      this.state = ConnState.CLOSING;
      // The answer to our close frame is the protocol's to read (replies before it are still counted).
      this.#reader?.handOver();
      this.#protocol!.close(CloseCode.NORMAL);
    } else if (this.state === ConnState.CONNECTING || this.state === ConnState.HANDSHAKE) {
      this.destroy(ABANDONED);
    }
  }

  /** Drops TCP now (the close deadline passed). */
  destroy(error?: string): void {
    if (error !== undefined) this.#setError(error);
    this.#socket.destroy();
  }

  // ProtocolSink
  write(first: Uint8Array, second?: Uint8Array): void {
    this.#socket.write(first);
    if (second !== undefined) this.#socket.write(second);
  }

  message(data: Buffer, isBinary: boolean): void {
    this.#events.message(this, data, isBinary);
  }

  /** The large compressed message the protocol stopped at (inflated on the thread pool) is delivered. */
  inflated(): void {
    if (this.#protocol!.proceed()) this.#socket.resume();
  }

  /** The protocol failed the connection (its close frame is written): end TCP from our side. */
  closeTransport(): void {
    this.#socket.end();
  }

  /** A read into the shared buffer; true: go on reading. */
  #onRead(buffer: Buffer, bytes: number): boolean {
    this.#onData(buffer.subarray(0, bytes));
    return true;
  }

  #setError(kind: string): void {
    this.#error ??= kind;
  }

  #onData(chunk: Buffer): void {
    this.readAt = performance.now();
    if (this.state >= ConnState.OPEN) {
      this.#receive(chunk);
      return;
    }
    const head = this.#head === null ? chunk : Buffer.concat([this.#head, chunk]);
    const end = findHeadEnd(head);
    if (end < 0) {
      if (head.length > MAX_RESPONSE_HEAD_BYTES) this.#failHandshake('bad-response');
      else this.#head = Buffer.from(head); // the read buffer may be the shard's, reused by the next read
      return;
    }
    this.#head = null;
    const headText = head.toString('latin1', 0, end - 4);
    const problem = checkResponseHead(headText, this.#expectedAccept);
    if (problem !== undefined) {
      this.#failHandshake(problem);
      return;
    }
    const extensions = responseHeader(headText, 'sec-websocket-extensions');
    if (this.#deflateOffer !== undefined) {
      const answer = readDeflateAnswer(extensions, this.#deflateOffer);
      // RFC 7692 §5.1: a response the client cannot accept fails the WebSocket connection.
      if (answer.kind === 'invalid') {
        this.#failHandshake('bad-extension');
        return;
      }
      if (answer.kind === 'agreed') this.#deflate = answer.config;
    } else if (extensions !== undefined && extensions.trim() !== '') {
      // RFC 6455 §4.1: an extension the client did not ask for fails the connection.
      this.#failHandshake('bad-extension');
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.state = ConnState.OPEN;
    this.#protocol = new WebSocketProtocol(this.#codec, this, { role: 'client', maxPayload: CLIENT_MAX_PAYLOAD, deflate: this.#deflate });
    if (this.#dataFrames !== undefined && this.#deflate === undefined) {
      const { handler, expected, headBytes } = this.#dataFrames;
      this.#reader = new DataFrameReader(this, handler, expected, CLIENT_MAX_PAYLOAD, headBytes);
    }
    this.#events.opened(this, performance.now() - this.#startedAt, this.#deflate !== undefined);
    // Frames that came in the same read as the 101 are the first input.
    if (end < head.length && this.state >= ConnState.OPEN) this.#receive(head.subarray(end));
  }

  #failHandshake(kind: string): void {
    this.#setError(kind);
    this.#socket.destroy();
  }

  /** True when data frames are counted from the reads (the scenario's fast path is in use). */
  get readsDataFrames(): boolean {
    return this.#reader !== undefined;
  }

  #receive(chunk: Buffer): void {
    const reader = this.#reader;
    if (reader !== undefined && !this.#protocolReads) {
      // Replies written while handling this chunk leave in one write, as below.
      this.#socket.cork();
      const rest = reader.read(chunk);
      this.uncork();
      if (rest === undefined) return;
      this.#protocolReads = true;
      chunk = rest;
    }
    const protocol = this.#protocol!;
    if (isClosed(protocol)) return;
    // Replies written while handling this chunk leave in one write (cork/uncork per read).
    this.#socket.cork();
    // false: stopped at a large compressed message being inflated; read nothing meanwhile.
    if (!protocol.receive(chunk)) this.#socket.pause();
    this.uncork();
    if (!isClosed(protocol)) {
      // A ping or a fragmented message is over: the next read is the reader's again (unless we are closing).
      if (this.#protocolReads && this.state === ConnState.OPEN && protocol.readyState === ReadyState.OPEN
        && protocol.isBetweenMessages) this.#protocolReads = false;
      return;
    }
    // A close frame arrived or the protocol failed the connection; the server closes TCP next.
    if (protocol.error !== undefined) {
      this.#setError(`protocol ${protocol.error.closeCode} ${protocol.error.code}`);
    } else if (this.state !== ConnState.CLOSING) {
      this.#setError(`server-close ${protocol.closeCode}`);
    }
    this.state = ConnState.CLOSING;
  }

  #onClose(): void {
    clearTimeout(this.#timer);
    const wasOpen = this.#protocol !== undefined;
    const previous = this.state;
    this.state = ConnState.CLOSED;
    if (this.#error === undefined) {
      if (previous === ConnState.CONNECTING || previous === ConnState.HANDSHAKE) {
        this.#error = previous === ConnState.HANDSHAKE ? 'bad-response' : 'reset';
      } else if (this.#protocol === undefined || !isClosed(this.#protocol)) {
        this.#error = 'dropped'; // RFC 6455 §7.1.5: TCP closed without a close frame, 1006
      } else if (this.#protocol.closeCode !== CloseCode.NORMAL) {
        this.#error = `server-close ${this.#protocol.closeCode}`;
      }
    }
    this.#protocol?.receiveEnd();
    this.#events.ended(this, this.#error, wasOpen);
  }
}

/** A function, so TypeScript does not narrow readyState across a receive() that changes it. */
function isClosed(protocol: WebSocketProtocol): boolean {
  return protocol.readyState === ReadyState.CLOSED;
}
