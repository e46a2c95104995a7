/**
 * Turns outgoing messages into frames (RFC 6455 §5.2): unmasked from a server, masked with a
 * fresh key per frame from a client. Functions that return the bytes, not an object per
 * connection: the protocol writes what they return straight to its output (the socket link).
 * A small payload shares one buffer with its header; a large one goes out as header and
 * payload, uncopied. Headers are written in JS (writeHeaderJs, the reference the WASM twin is
 * tested against): 2 to 14 bytes cost less than a call into WASM and a copy back out.
 */
import { randomFillSync } from 'node:crypto';
import { type FrameCodec, headerLength, writeHeaderJs } from '../codec/codec.js';

/** Payloads below this size are sent with their header in one buffer; larger ones as two writes. */
const SMALL_FRAME_BYTES = 1024;

export interface FrameSink {
  /** Bytes for the transport, in order: a frame may come as header and payload in one call. */
  write(first: Uint8Array, second?: Uint8Array): void;
  /**
   * A frame whose payload is valid only during this call (it lies in memory the next read
   * reuses): written at once, or copied. Without it the protocol copies the payload for write().
   */
  writeLent?(header: Uint8Array, payload: Uint8Array): void;
}

/**
 * The frame of one whole message or control frame; `rsv` is OR-ed into the first header byte
 * (RFC 6455 §5.2). Returns the whole frame, or, for a large payload from a server, its header
 * alone: the payload then goes out after it, uncopied. The caller tells them apart by length
 * (a header alone is shorter than its payload).
 */
export function encodeFrame(codec: FrameCodec, role: 'server' | 'client', opcode: number, payload: Uint8Array, rsv = 0): Buffer {
  const length = payload.length;
  if (role === 'client') {
    // RFC 6455 §5.3: a fresh unpredictable mask key per frame; the caller's bytes stay intact.
    const maskKey = nextMaskKey();
    const frame = Buffer.allocUnsafe(headerLength(length, true) + length);
    const size = writeHeaderJs(frame, 0, opcode, true, length, maskKey);
    frame[0] |= rsv;
    frame.set(payload, size);
    codec.mask(frame, size, length, maskKey, 0);
    return frame;
  }
  if (length < SMALL_FRAME_BYTES) {
    // The one allocation per small frame: header and payload in one buffer, one socket write.
    const frame = Buffer.allocUnsafe(headerLength(length, false) + length);
    const size = writeHeaderJs(frame, 0, opcode, true, length);
    frame[0] |= rsv;
    frame.set(payload, size);
    return frame;
  }
  const header = Buffer.allocUnsafe(headerLength(length, false));
  writeHeaderJs(header, 0, opcode, true, length);
  header[0] |= rsv;
  return header;
}

/**
 * A small text frame from a server, the string encoded straight into the frame buffer (one
 * allocation); undefined when `text` needs encodeFrame (a client's masked frame, a large payload).
 */
export function encodeSmallText(role: 'server' | 'client', opcode: number, text: string): Buffer | undefined {
  if (role === 'client' || text.length >= SMALL_FRAME_BYTES) return undefined;
  const length = Buffer.byteLength(text, 'utf8');
  if (length >= SMALL_FRAME_BYTES) return undefined;
  const frame = Buffer.allocUnsafe(headerLength(length, false) + length);
  const size = writeHeaderJs(frame, 0, opcode, true, length);
  frame.write(text, size, 'utf8');
  return frame;
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
