/**
 * permessage-deflate for tests, straight on node:zlib and independent of src/ (RFC 7692 §7.2):
 * compressed client frames, inflating what the server sends, and a zip bomb built cheaply.
 */
import { constants, createInflateRaw, deflateRawSync, inflateRawSync, type InflateRaw } from 'node:zlib';
import { frame, fragments, Op, RSV1, type ClientFrame } from './raw-client.js';

const SYNC_FLUSH = { finishFlush: constants.Z_SYNC_FLUSH };
/** §7.2.1: the empty stored block a sync flush ends with; the sender drops it. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** §7.2.1: a whole message's compressed payload (no context takeover), tail removed. */
export function deflate(message: Uint8Array | string, options: { windowBits?: number; dictionary?: Buffer } = {}): Buffer {
  const out = deflateRawSync(typeof message === 'string' ? Buffer.from(message, 'utf8') : message, { ...SYNC_FLUSH, ...options });
  return out.subarray(0, out.length - TAIL.length);
}

/** §7.2.2: a whole compressed payload from the server, inflated on its own (no context takeover). */
export function inflate(payload: Uint8Array): Buffer {
  return inflateRawSync(Buffer.concat([payload, TAIL]), SYNC_FLUSH);
}

/** Inflates the server's messages in order with one zlib stream: context takeover (§7.1.1.1). */
export class ContextInflater {
  readonly #stream: InflateRaw = createInflateRaw();
  #chunks: Buffer[] = [];

  constructor() {
    this.#stream.on('data', (chunk: Buffer) => this.#chunks.push(chunk));
  }

  inflate(payload: Uint8Array): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.#stream.once('error', reject);
      this.#stream.write(Buffer.concat([payload, TAIL]));
      this.#stream.flush(constants.Z_SYNC_FLUSH, () => {
        this.#stream.off('error', reject);
        const message = Buffer.concat(this.#chunks);
        this.#chunks = [];
        resolve(message);
      });
    });
  }

  close(): void {
    this.#stream.close();
  }
}

/** A compressed data frame (RSV1 set, §6) carrying `payload` as is (already compressed). */
export function compressedFrame(opcode: number, payload: Uint8Array, spec: Partial<ClientFrame> = {}): Buffer {
  return frame({ ...spec, opcode, payload, rsv: RSV1 | (spec.rsv ?? 0) });
}

export const compressedText = (message: Uint8Array | string, spec: Partial<ClientFrame> = {}): Buffer =>
  compressedFrame(Op.TEXT, deflate(message), spec);
export const compressedBinary = (message: Uint8Array | string, spec: Partial<ClientFrame> = {}): Buffer =>
  compressedFrame(Op.BINARY, deflate(message), spec);

/**
 * The compressed payload of `megabytes` MiB of zeros (about 1 KiB per MiB): one MiB compressed
 * once and repeated. Each copy is a run of whole DEFLATE blocks ending on a byte boundary (the
 * sync flush), so the copies concatenated are one valid stream.
 */
export function zipBomb(megabytes: number): Buffer {
  const oneMiB = deflateRawSync(Buffer.alloc(1 << 20), SYNC_FLUSH);
  const all = Buffer.concat(Array.from({ length: megabytes }, () => oneMiB));
  return all.subarray(0, all.length - TAIL.length);
}

/** Cuts a compressed payload into a first frame (RSV1) and continuations (no RSV1, §6.1). */
export function compressedFragments(opcode: number, payload: Uint8Array, cuts: readonly number[]): Buffer[] {
  return fragments(opcode, payload, cuts, RSV1);
}
