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
  codec.mask(frame, offset, length, maskKey, 0);
  return frame;
}
