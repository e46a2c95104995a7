/**
 * Moves bytes between one upgraded TCP socket and its protocol state machine, runs the
 * application's handlers, applies backpressure and owns the closing timers.
 */
import type { Socket } from 'node:net';
import type { FrameCodec } from '../codec/codec.js';
import { WebSocketProtocol, ReadyState } from '../protocol/protocol.js';
import { CloseCode } from '../protocol/close-codes.js';
import type { Application, Connection } from '../apps/app.js';

export interface SocketConnectionOptions {
  id: number;
  subprotocol: string | undefined;
  maxPayload: number;
  /** Bytes queued on the socket above which we stop reading from it until it drains. */
  highWaterMark: number;
  /** How long to wait for the peer's close frame, or for its FIN after ours, before dropping TCP. */
  closeTimeoutMs: number;
  onError?: (error: Error, conn: Connection) => void;
}

export class SocketConnection implements Connection {
  readonly id: number;
  readonly protocol: string | undefined;
  readonly #socket: Socket;
  readonly #app: Application;
  readonly #machine: WebSocketProtocol;
  readonly #options: SocketConnectionOptions;
  #paused = false;
  #closeTimer: NodeJS.Timeout | undefined;
  #finished = false;
  readonly closed: Promise<void>;

  constructor(socket: Socket, codec: FrameCodec, app: Application, options: SocketConnectionOptions) {
    this.id = options.id;
    this.protocol = options.subprotocol;
    this.#socket = socket;
    this.#app = app;
    this.#options = options;
    this.#machine = new WebSocketProtocol(codec, {
      message: (data, isBinary) => this.#runHandler(() => app.message?.(this, data, isBinary)),
      write: (first, second) => this.#write(first, second),
      closeTransport: () => this.#endTransport(),
    }, { role: 'server', maxPayload: options.maxPayload });

    socket.setNoDelay(true);
    this.closed = new Promise((resolve) => socket.once('close', () => { this.#finish(); resolve(); }));
    socket.on('data', (chunk: Buffer) => this.#machine.receive(chunk));
    // The HTTP server's sockets allow half-open connections: answer the peer's FIN with ours.
    socket.on('end', () => { this.#machine.receiveEnd(); socket.end(); });
    socket.on('error', () => this.#machine.receiveEnd()); // 'close' follows and reports 1006
    socket.on('drain', () => this.#onDrain());
  }

  /** Runs `open`, then feeds the bytes that arrived with the upgrade request. */
  start(head: Buffer): void {
    this.#runHandler(() => this.#app.open?.(this));
    if (head.length > 0 && !this.#finished) this.#machine.receive(head);
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  send(data: string | Uint8Array, isBinary?: boolean): boolean {
    return this.#machine.send(data, isBinary);
  }

  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if (this.#machine.readyState !== ReadyState.OPEN) return;
    this.#machine.close(code, reason);
    // RFC 6455 §7.1.1: wait a bounded time for the peer's close frame, then drop TCP.
    this.#armCloseTimer();
  }

  /** Drops the TCP connection at once, without a closing handshake. */
  terminate(): void {
    this.#socket.destroy();
  }

  #write(first: Uint8Array, second?: Uint8Array): void {
    const socket = this.#socket;
    if (socket.destroyed || !socket.writable) return;
    if (second === undefined) {
      socket.write(first);
    } else {
      socket.cork();
      socket.write(first);
      socket.write(second);
      socket.uncork();
    }
    // Backpressure: a peer that does not read stops being read from, so memory stays bounded.
    if (!this.#paused && socket.writableLength > this.#options.highWaterMark) {
      this.#paused = true;
      socket.pause();
    }
  }

  #onDrain(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (!this.#socket.destroyed) this.#socket.resume();
    this.#runHandler(() => this.#app.drain?.(this));
  }

  #endTransport(): void {
    // The server closes TCP first; a peer that never answers our FIN is dropped after the timeout.
    this.#socket.end();
    this.#armCloseTimer();
  }

  #armCloseTimer(): void {
    if (this.#closeTimer !== undefined || this.#finished) return;
    this.#closeTimer = setTimeout(() => this.#socket.destroy(), this.#options.closeTimeoutMs);
    this.#closeTimer.unref();
  }

  #runHandler(handler: () => void): void {
    try {
      handler();
    } catch (error) {
      // An application exception closes this connection only (1011), never the server.
      this.#options.onError?.(error as Error, this);
      if (this.#machine.readyState === ReadyState.OPEN) this.close(CloseCode.INTERNAL_ERROR, 'internal error');
    }
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#closeTimer);
    this.#machine.receiveEnd();
    const { closeCode, closeReason } = this.#machine;
    this.#runHandler(() => this.#app.close?.(this, closeCode, closeReason));
  }
}
