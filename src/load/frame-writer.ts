/**
 * Masked client data frames for the generator's hot path. The protocol's client role draws one
 * mask key per frame with its own randomFillSync call, which measured 17% of the generator's CPU
 * in echo of 20 B messages (and left a `ws` server unsaturated); here keys come from a pool that
 * one randomFillSync call refills every 2048 frames, as `ws` does. RFC 6455 §5.3 asks for an
 * unpredictable key per frame from a strong source of entropy: the pool is exactly that.
 * The frame layout and the masking are the codec's, as in WebSocketProtocol; everything else
 * (control frames, closing, validation of what arrives) stays with the protocol.
 */
import { randomFillSync } from 'node:crypto';
import { headerLength, type FrameCodec } from '../codec/codec.js';
import { createCodec } from '../codec/select.js';

/** From this payload size a connection writes its frames into buffers it reuses (see FrameBuffers). */
export const REUSE_MIN_BYTES = 4096;
/** From this size the WASM codec masks, whichever codec reads: its SIMD loop beats the JS byte loop ~25×. */
const WASM_MASK_MIN_BYTES = 512;
/** Frames a connection keeps for reuse; more in flight than this are allocated. */
const MAX_FREE_FRAMES = 64;
/** Past this many frames given out without the socket ever draining, the oldest are forgotten (left to the GC). */
const MAX_QUEUED_FRAMES = 1024;
let wasmMasker: FrameCodec | undefined;

const MASK_KEY_POOL = new Uint32Array(2048);
let nextKey = MASK_KEY_POOL.length;

export function nextMaskKey(): number {
  if (nextKey === MASK_KEY_POOL.length) {
    randomFillSync(MASK_KEY_POOL);
    nextKey = 0;
  }
  return MASK_KEY_POOL[nextKey++];
}

/** One complete, final, masked frame carrying a copy of `payload` (which stays intact). */
export function maskedFrame(codec: FrameCodec, opcode: number, payload: Uint8Array): Buffer {
  const length = payload.length;
  const maskKey = nextMaskKey();
  const frame = Buffer.allocUnsafe(headerLength(length, true) + length);
  const offset = codec.writeHeader(frame, 0, opcode, true, length, maskKey);
  frame.set(payload, offset);
  maskerFor(codec, length).mask(frame, offset, length, maskKey, 0);
  return frame;
}

function maskerFor(codec: FrameCodec, length: number): FrameCodec {
  if (length < WASM_MASK_MIN_BYTES || codec.kind === 'wasm') return codec;
  return (wasmMasker ??= createCodec('wasm'));
}

/**
 * One connection's large frames, written into buffers reused once the socket has handed every
 * byte queued to the kernel (a 64 KiB allocation per send, and the collection of it, cost more
 * than the copy and the masking together). Each send still gets its own fresh mask key.
 */
export class FrameBuffers {
  readonly #free: Buffer[] = [];
  readonly #queued: Buffer[] = [];

  /** A masked frame of `payload` (≥ REUSE_MIN_BYTES), in a buffer that stays in use until `written`. */
  frame(codec: FrameCodec, opcode: number, payload: Uint8Array): Buffer {
    const length = payload.length;
    const size = headerLength(length, true) + length;
    let frame = this.#free.pop();
    if (frame === undefined || frame.length !== size) frame = Buffer.allocUnsafe(size);
    const maskKey = nextMaskKey();
    const offset = codec.writeHeader(frame, 0, opcode, true, length, maskKey);
    frame.set(payload, offset);
    maskerFor(codec, length).mask(frame, offset, length, maskKey, 0);
    if (this.#queued.length === MAX_QUEUED_FRAMES) this.#queued.length = 0;
    this.#queued.push(frame);
    return frame;
  }

  /** The socket has nothing queued: every frame given out may be written over. */
  written(): void {
    for (const frame of this.#queued) if (this.#free.length < MAX_FREE_FRAMES) this.#free.push(frame);
    this.#queued.length = 0;
  }
}
