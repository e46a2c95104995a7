/**
 * A raw RFC 6455 client for conformance tests, in the spirit of the Autobahn|Testsuite
 * fuzzingclient: plain `node:net` sockets, hand-built client frames with any FIN/RSV/opcode/mask
 * and any length encoding, a parser for server frames, and a report of how the server closed.
 * It shares no code with src/, so that it checks the server independently.
 */
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';

/** RFC 6455 §5.2 opcodes. */
export const Op = { CONTINUATION: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;
/** RFC 6455 §5.2: the RSV bits as they sit in the first header byte. */
export const RSV1 = 0x40, RSV2 = 0x20, RSV3 = 0x10;

const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/**
 * Generous: a test file runs eight servers in its own process, and on a loaded 2-core machine
 * the event loop can stall for seconds; a deadline only decides how long a failure takes.
 */
const DEFAULT_TIMEOUT_MS = 20_000;

// --- client frames --------------------------------------------------------------------------

export interface ClientFrame {
  opcode: number;
  payload?: Uint8Array | string;
  /** Default true. */
  fin?: boolean;
  /** Any of RSV1 | RSV2 | RSV3. */
  rsv?: number;
  /** Default true: RFC 6455 §5.3 says clients mask every frame. */
  masked?: boolean;
  /** Four bytes; random by default. */
  maskKey?: Uint8Array;
  /** Length field width: 7, 16 or 64 bits. Default the minimal one; wider ones are legal too. */
  lengthBits?: 7 | 16 | 64;
}

/** Builds one client frame's bytes. */
export function frame(spec: ClientFrame): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload, 'utf8') : Buffer.from(spec.payload ?? []);
  const masked = spec.masked ?? true;
  const length = payload.length;
  const bits = spec.lengthBits ?? (length < 126 ? 7 : length < 65536 ? 16 : 64);
  if (bits === 7 && length > 125) throw new RangeError(`${length} bytes do not fit a 7-bit length`);
  if (bits === 16 && length > 65535) throw new RangeError(`${length} bytes do not fit a 16-bit length`);
  const lengthBytes = bits === 7 ? 0 : bits === 16 ? 2 : 8;
  const header = Buffer.alloc(2 + lengthBytes + (masked ? 4 : 0));
  header[0] = ((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) & 0x70) | (spec.opcode & 0x0f);
  header[1] = (masked ? 0x80 : 0) | (bits === 7 ? length : bits === 16 ? 126 : 127);
  if (bits === 16) header.writeUInt16BE(length, 2);
  if (bits === 64) header.writeBigUInt64BE(BigInt(length), 2);
  if (!masked) return Buffer.concat([header, payload]);
  const maskKey = spec.maskKey ?? randomBytes(4);
  header.set(maskKey.subarray(0, 4), 2 + lengthBytes);
  const body = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) body[i] = payload[i] ^ maskKey[i & 3];
  return Buffer.concat([header, body]);
}

export const text = (payload: Uint8Array | string, spec: Partial<ClientFrame> = {}): Buffer =>
  frame({ ...spec, opcode: Op.TEXT, payload });
export const binary = (payload: Uint8Array | string, spec: Partial<ClientFrame> = {}): Buffer =>
  frame({ ...spec, opcode: Op.BINARY, payload });
export const continuation = (payload: Uint8Array | string, fin: boolean, spec: Partial<ClientFrame> = {}): Buffer =>
  frame({ ...spec, opcode: Op.CONTINUATION, payload, fin });
export const ping = (payload: Uint8Array | string = '', spec: Partial<ClientFrame> = {}): Buffer =>
  frame({ ...spec, opcode: Op.PING, payload });
export const pong = (payload: Uint8Array | string = '', spec: Partial<ClientFrame> = {}): Buffer =>
  frame({ ...spec, opcode: Op.PONG, payload });

/** A close frame: no payload when `code` is undefined, else the code and the reason bytes. */
export function close(code?: number, reason: Uint8Array | string = '', spec: Partial<ClientFrame> = {}): Buffer {
  if (code === undefined) return frame({ ...spec, opcode: Op.CLOSE });
  const reasonBytes = typeof reason === 'string' ? Buffer.from(reason, 'utf8') : Buffer.from(reason);
  const payload = Buffer.alloc(2 + reasonBytes.length);
  payload.writeUInt16BE(code, 0);
  payload.set(reasonBytes, 2);
  return frame({ ...spec, opcode: Op.CLOSE, payload });
}

/**
 * Cuts `message` into fragments at `cuts` (offsets): a text/binary frame, then continuations.
 * `firstRsv` goes on the first frame only (RFC 7692 §6.1: RSV1 marks a compressed message).
 */
export function fragments(opcode: number, message: Uint8Array, cuts: readonly number[], firstRsv = 0): Buffer[] {
  const bounds = [0, ...cuts, message.length];
  const frames: Buffer[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    frames.push(frame({
      opcode: i === 0 ? opcode : Op.CONTINUATION,
      payload: message.subarray(bounds[i], bounds[i + 1]),
      fin: i + 2 === bounds.length,
      rsv: i === 0 ? firstRsv : 0,
    }));
  }
  return frames;
}

/** Deterministic non-trivial bytes (so that misplaced or unmasked bytes are caught). */
export function pattern(length: number, seed = 1): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

// --- server frames --------------------------------------------------------------------------

export interface ServerFrame {
  fin: boolean;
  /** RSV1-3 as in the first header byte (0x70 mask). */
  rsv: number;
  opcode: number;
  /** RFC 6455 §5.1: must be false for every server frame. */
  masked: boolean;
  payload: Buffer;
}

/** How the connection ended. */
export interface CloseReport {
  /** Every frame received on the connection, in order. */
  frames: ServerFrame[];
  /** The server's first close frame, if it sent one. */
  closeFrame: ServerFrame | undefined;
  /** Its status code; 1005 for a close frame without payload, undefined without a close frame. */
  closeCode: number | undefined;
  /** True when the server ended or reset TCP before this client closed it. */
  closedByServer: boolean;
  /** True when the connection was still open at the deadline (the client then dropped it). */
  timedOut: boolean;
}

/**
 * Parses the server frame at the start of `bytes`: the frame and its size once all its bytes are
 * there, else how many bytes it needs (the header alone while the length is not known yet).
 */
function parseFrame(bytes: Buffer): { frame: ServerFrame; size: number } | { needed: number } {
  if (bytes.length < 2) return { needed: 2 };
  const masked = (bytes[1] & 0x80) !== 0;
  const length7 = bytes[1] & 0x7f;
  const keyOffset = 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0);
  const offset = keyOffset + (masked ? 4 : 0);
  if (bytes.length < offset) return { needed: offset };
  const length = length7 < 126 ? length7 : length7 === 126 ? bytes.readUInt16BE(2) : Number(bytes.readBigUInt64BE(2));
  if (bytes.length < offset + length) return { needed: offset + length };
  const payload = Buffer.from(bytes.subarray(offset, offset + length));
  if (masked) for (let i = 0; i < length; i++) payload[i] ^= bytes[keyOffset + (i & 3)];
  const frame = { fin: (bytes[0] & 0x80) !== 0, rsv: bytes[0] & 0x70, opcode: bytes[0] & 0x0f, masked, payload };
  return { frame, size: offset + length };
}

// --- the client -----------------------------------------------------------------------------

function upgradeRequest(port: number, key: string, extensions: string | undefined): string {
  return `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
    + `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`
    + (extensions === undefined ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`) + '\r\n';
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export interface ConnectOptions {
  /** Sent in the same write as the request. */
  head?: Uint8Array;
  timeoutMs?: number;
  /** The Sec-WebSocket-Extensions value to offer, as is. */
  extensions?: string;
}

export class RawClient {
  /** Every frame received so far, in order. */
  readonly frames: ServerFrame[] = [];
  /** The Sec-WebSocket-Extensions value of the 101 response; undefined without one. */
  readonly extensions: string | undefined;
  readonly #socket: net.Socket;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #needed = 2;
  #read = 0; // frames handed out by nextFrame()
  #closedByUs = false;
  #closedByServer = false;
  #ended = false;
  readonly #waiters = new Set<() => void>();
  readonly #ended$: Promise<void>;

  private constructor(socket: net.Socket, rest: Buffer, extensions: string | undefined) {
    this.#socket = socket;
    this.extensions = extensions;
    this.#ended$ = new Promise((resolve) => {
      const ended = (): void => {
        if (!this.#ended) {
          this.#ended = true;
          if (!this.#closedByUs) this.#closedByServer = true;
        }
        this.#notify();
        resolve();
      };
      socket.on('end', ended);
      socket.on('close', ended);
    });
    socket.on('error', () => { /* a reset or a write after the server closed: 'close' follows */ });
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    if (rest.length > 0) this.#receive(rest);
  }

  /**
   * Opens TCP to 127.0.0.1:port and performs the opening handshake; `head` is sent in the same
   * write as the request. Rejects unless the answer is a valid 101.
   */
  static connect(port: number, options: ConnectOptions = {}): Promise<RawClient> {
    const key = randomBytes(16).toString('base64');
    const accept = createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.setNoDelay(true);
      let received = Buffer.alloc(0);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(error);
      };
      const timer = setTimeout(() => fail(new Error('no handshake answer in time')), options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      const onData = (chunk: Buffer): void => {
        received = Buffer.concat([received, chunk]);
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        clearTimeout(timer);
        socket.off('data', onData);
        socket.off('error', fail);
        socket.off('close', onClose);
        const head = received.subarray(0, end).toString('latin1');
        if (!head.startsWith('HTTP/1.1 101 ') || !new RegExp(`^sec-websocket-accept: *${escape(accept)} *$`, 'im').test(head)) {
          fail(new Error(`handshake refused: ${JSON.stringify(head)}`));
          return;
        }
        const extensions = /^sec-websocket-extensions: *(.*?) *$/im.exec(head)?.[1];
        resolve(new RawClient(socket, received.subarray(end + 4), extensions));
      };
      const onClose = (): void => fail(new Error('connection closed during the handshake'));
      socket.on('data', onData);
      socket.on('error', fail);
      socket.on('close', onClose);
      socket.on('connect', () => {
        const request = Buffer.from(upgradeRequest(port, key, options.extensions), 'latin1');
        socket.write(options.head === undefined ? request : Buffer.concat([request, options.head]));
      });
    });
  }

  /** True once the server ended or reset TCP. */
  get closedByServer(): boolean {
    return this.#closedByServer;
  }

  /** Writes the bytes (concatenated) in one write; resolves once they are handed to the kernel. */
  send(...parts: Uint8Array[]): Promise<void> {
    const bytes = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    if (this.#socket.destroyed || !this.#socket.writable) return Promise.resolve();
    return new Promise((resolve) => this.#socket.write(bytes, () => resolve()));
  }

  /**
   * Writes each part separately, waiting `gapMs` (or one event-loop turn when 0) after each, so
   * that the server reads them as separate chunks. Stops once the server has closed.
   */
  async sendParts(parts: readonly Uint8Array[], gapMs = 0): Promise<void> {
    for (const part of parts) {
      if (this.#ended) return;
      await this.send(part);
      await (gapMs > 0 ? new Promise((resolve) => setTimeout(resolve, gapMs)) : nextTurn());
    }
  }

  /** Writes `bytes` in chunks of `chunkSize` bytes, separately (see sendParts). */
  sendChunked(bytes: Uint8Array, chunkSize: number, gapMs = 0): Promise<void> {
    return this.sendParts(splitEvery(bytes, chunkSize), gapMs);
  }

  /** The next frame not yet returned by nextFrame(); rejects if none comes in time or TCP ends. */
  async nextFrame(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ServerFrame> {
    const deadline = Date.now() + timeoutMs;
    while (this.#read >= this.frames.length) {
      if (this.#ended) throw new Error(`TCP closed after ${this.frames.length} frames; expected one more`);
      if (!(await this.#waitForEvent(deadline))) {
        throw new Error(`no frame within ${timeoutMs} ms (${this.frames.length} received)`);
      }
    }
    return this.frames[this.#read++];
  }

  /** The next `count` frames (see nextFrame). */
  async nextFrames(count: number, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ServerFrame[]> {
    const frames: ServerFrame[] = [];
    for (let i = 0; i < count; i++) frames.push(await this.nextFrame(timeoutMs));
    return frames;
  }

  /**
   * Collects frames until the server closes TCP; after `timeoutMs` the client drops the
   * connection and reports `timedOut`.
   */
  async untilClosed(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<CloseReport> {
    const deadline = Date.now() + timeoutMs;
    let timedOut = false;
    while (!this.#ended) {
      if (!(await this.#waitForEvent(deadline))) {
        timedOut = true;
        this.destroy();
        break;
      }
    }
    await this.#ended$;
    const closeFrame = this.frames.find((f) => f.opcode === Op.CLOSE);
    let closeCode: number | undefined;
    if (closeFrame !== undefined) closeCode = closeFrame.payload.length >= 2 ? closeFrame.payload.readUInt16BE(0) : 1005;
    return { frames: this.frames, closeFrame, closeCode, closedByServer: this.#closedByServer, timedOut };
  }

  /** Stops reading from TCP (the server's writes then back up); resume() reads again. */
  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  /** Sends a FIN (half-close) without waiting. */
  end(): void {
    this.#closedByUs ||= !this.#ended;
    this.#socket.end();
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.#closedByUs ||= !this.#ended;
    this.#socket.destroy();
  }

  /** Drops the connection with a TCP RST. */
  reset(): void {
    this.#closedByUs ||= !this.#ended;
    this.#socket.resetAndDestroy();
  }

  #receive(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    // Join chunks only when the next frame can be complete: a large frame is copied once.
    while (this.#buffered >= this.#needed) {
      const bytes = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks);
      this.#chunks = [bytes];
      const parsed = parseFrame(bytes);
      if ('needed' in parsed) {
        this.#needed = parsed.needed;
        continue;
      }
      this.frames.push(parsed.frame);
      const rest = bytes.subarray(parsed.size);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#buffered = rest.length;
      this.#needed = 2;
    }
    this.#notify();
  }

  #notify(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  /** Resolves true on the next frame or end of TCP, false at the deadline. */
  #waitForEvent(deadline: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = (): void => { clearTimeout(timer); resolve(true); };
      const timer = setTimeout(() => { this.#waiters.delete(wake); resolve(false); }, Math.max(0, deadline - Date.now()));
      this.#waiters.add(wake);
    });
  }
}

export function splitEvery(bytes: Uint8Array, size: number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  return parts;
}

function escape(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
