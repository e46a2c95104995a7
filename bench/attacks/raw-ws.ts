/**
 * A raw WebSocket client for the attacks: a plain `net` socket, the opening handshake by hand,
 * client frames built in bulk (mask key 0, which RFC 6455 §5.3 allows and which leaves the
 * payload as is, so one buffer of many frames is built once and written many times), and a
 * small parser of what the server sends. It shares no code with src/: it is the attacker.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const Op = { CONTINUATION: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const;

export interface RawConnection {
  socket: Socket;
  /** Bytes that came with the 101 response, after its head. */
  rest: Buffer;
}

/**
 * Connects and completes the handshake; rejects with the HTTP status line, or the socket error's
 * code (ECONNRESET, EMFILE…), on anything else. `timeoutMs` bounds the whole attempt.
 */
export function openRaw(host: string, port: number, options: { localAddress?: string; timeoutMs?: number; extensions?: string } = {}): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const key = randomBytes(16).toString('base64');
    const accept = createHash('sha1').update(key + GUID).digest('base64');
    const socket = connect({ host, port, localAddress: options.localAddress, noDelay: true });
    let head = Buffer.alloc(0);
    const fail = (reason: string) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(reason));
    };
    const timer = setTimeout(() => fail('timeout'), options.timeoutMs ?? 10_000);
    socket.once('connect', () => socket.write(`GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      `${options.extensions === undefined ? '' : `Sec-WebSocket-Extensions: ${options.extensions}\r\n`}\r\n`));
    socket.on('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message));
    socket.once('close', () => fail('closed before the 101'));
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const text = head.toString('latin1', 0, end);
      const status = text.slice(0, text.indexOf('\r\n'));
      if (!/^HTTP\/1\.1 101/.test(status)) return fail(status);
      if (!text.includes(accept)) return fail('bad Sec-WebSocket-Accept');
      clearTimeout(timer);
      socket.off('data', onData);
      socket.removeAllListeners('error');
      socket.removeAllListeners('close');
      socket.on('error', () => {});
      resolve({ socket, rest: head.subarray(end + 4) });
    };
    socket.on('data', onData);
  });
}

/** One masked client frame (mask key 0) of `payload`. */
export function clientFrame(opcode: number, payload: Uint8Array, fin = true): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const frame = Buffer.alloc(2 + lengthBytes + 4 + length);
  frame[0] = (fin ? 0x80 : 0) | opcode;
  frame[1] = 0x80 | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
  if (lengthBytes === 2) frame.writeUInt16BE(length, 2);
  if (lengthBytes === 8) frame.writeBigUInt64BE(BigInt(length), 2);
  frame.set(payload, 2 + lengthBytes + 4);
  return frame;
}

/** `count` copies of one frame in one buffer. */
export function repeatFrame(frame: Buffer, count: number): Buffer {
  const block = Buffer.allocUnsafe(frame.length * count);
  for (let i = 0; i < count; i++) frame.copy(block, i * frame.length);
  return block;
}

/** Writes `chunk`, waiting for 'drain' when the socket's queue is full; false when it did not drain in `stallMs`. */
export async function writeWithBackpressure(socket: Socket, chunk: Buffer, stallMs: number): Promise<boolean> {
  if (socket.destroyed) return false;
  if (socket.write(chunk)) return true;
  return new Promise((resolve) => {
    const done = (drained: boolean) => {
      clearTimeout(timer);
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      resolve(drained);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), stallMs);
    socket.once('drain', onDrain);
    socket.once('close', onClose);
  });
}

/** The server's frames (unmasked, RFC 6455 §5.1) from a byte stream, whole messages not joined. */
export class FrameReader {
  #pending = Buffer.alloc(0);
  bytes = 0;
  /** Close code of the server's close frame, once one came. */
  closeCode: number | undefined;

  constructor(readonly onFrame: (opcode: number, payload: Buffer, fin: boolean) => void) {}

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    let data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    for (;;) {
      if (data.length < 2) break;
      let length = data[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (data.length < 4) break;
        length = data.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (data.length < 10) break;
        length = Number(data.readBigUInt64BE(2));
        offset = 10;
      }
      if (data.length < offset + length) break;
      const opcode = data[0] & 0x0f;
      const payload = data.subarray(offset, offset + length);
      if (opcode === Op.CLOSE) this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this.onFrame(opcode, payload, (data[0] & 0x80) !== 0);
      data = data.subarray(offset + length);
    }
    this.#pending = Buffer.from(data);
  }
}

/** RFC 6455 §5.5.1: our close frame (1000), then end. */
export function closeRaw(socket: Socket): void {
  if (socket.destroyed) return;
  socket.end(clientFrame(Op.CLOSE, Buffer.from([0x03, 0xe8])));
  setTimeout(() => socket.destroy(), 2000).unref();
}
