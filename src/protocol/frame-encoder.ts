/**
 * Turns outgoing messages into frames (RFC 6455 §5.2): unmasked from a server, masked with a
 * fresh key per frame from a client. A small payload shares one buffer with its header; a large
 * one goes out as header and payload, uncopied. Headers are written in JS (writeHeaderJs, the
 * reference the WASM twin is tested against): 2 to 14 bytes cost less than a call into WASM
 * and a copy back out.
 */
import { randomFillSync } from 'node:crypto';
import { type FrameCodec, headerLength, writeHeaderJs } from '../codec/codec.js';

/** Payloads below this size are sent with their header in one buffer; larger ones as two writes. */
const SMALL_FRAME_BYTES = 1024;

export interface FrameSink {
  write(first: Uint8Array, second?: Uint8Array): void;
}

export class FrameEncoder {
  readonly #codec: FrameCodec;
  readonly #role: 'server' | 'client';
  readonly #sink: FrameSink;

  constructor(codec: FrameCodec, role: 'server' | 'client', sink: FrameSink) {
    this.#codec = codec;
    this.#role = role;
    this.#sink = sink;
  }

  /** Text sent from a string is encoded straight into the frame buffer: one allocation. */
  sendString(opcode: number, text: string): void {
    const length = Buffer.byteLength(text, 'utf8');
    if (this.#role === 'client' || length >= SMALL_FRAME_BYTES) {
      this.sendFrame(opcode, Buffer.from(text, 'utf8'));
      return;
    }
    const frame = Buffer.allocUnsafe(headerLength(length, false) + length);
    const size = writeHeaderJs(frame, 0, opcode, true, length);
    frame.write(text, size, 'utf8');
    this.#sink.write(frame);
  }

  /** Sends one whole message or control frame; `rsv` is OR-ed into the first header byte (RFC 6455 §5.2). */
  sendFrame(opcode: number, payload: Uint8Array, rsv = 0): void {
    const length = payload.length;
    if (this.#role === 'client') {
      // RFC 6455 §5.3: a fresh unpredictable mask key per frame; the caller's bytes stay intact.
      const maskKey = nextMaskKey();
      const frame = Buffer.allocUnsafe(headerLength(length, true) + length);
      const size = writeHeaderJs(frame, 0, opcode, true, length, maskKey);
      frame[0] |= rsv;
      frame.set(payload, size);
      this.#codec.mask(frame, size, length, maskKey, 0);
      this.#sink.write(frame);
      return;
    }
    if (length < SMALL_FRAME_BYTES) {
      // The one allocation per small frame: header and payload in one buffer, one socket write.
      const frame = Buffer.allocUnsafe(headerLength(length, false) + length);
      const size = writeHeaderJs(frame, 0, opcode, true, length);
      frame[0] |= rsv;
      frame.set(payload, size);
      this.#sink.write(frame);
      return;
    }
    const header = Buffer.allocUnsafe(headerLength(length, false));
    writeHeaderJs(header, 0, opcode, true, length);
    header[0] |= rsv;
    this.#sink.write(header, payload);
  }
}

/**
 * Mask keys come from a pool of random words refilled from the CSPRNG every MASK_POOL_SIZE
 * frames: one randomFillSync call per frame cost a client a sixth of its CPU.
 */
const MASK_POOL_SIZE = 2048;
const maskPool = new Uint32Array(MASK_POOL_SIZE);
let maskPoolNext = MASK_POOL_SIZE;

function nextMaskKey(): number {
  if (maskPoolNext === MASK_POOL_SIZE) {
    randomFillSync(maskPool);
    maskPoolNext = 0;
  }
  return maskPool[maskPoolNext++];
}
