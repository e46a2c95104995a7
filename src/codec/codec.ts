/**
 * The FrameCodec contract: the byte work of RFC 6455 framing, implemented twice
 * (WasmCodec in assembly/, JsCodec in plain TypeScript) so the two can be compared
 * and tested against each other byte for byte.
 *
 * The codec is a *scanner*: one call per received chunk parses every complete frame
 * header, unmasks every payload byte present in place, and validates UTF-8 of text
 * messages as the bytes arrive. It writes one record per (frame, segment of payload
 * in this chunk) and leaves protocol decisions (close codes, limits) to the caller.
 */

export * from './layout.js';
export { validateUtf8Js } from './utf8-stream.js';
export { writeHeaderJs } from './frame-header.js';

export type CodecKind = 'wasm' | 'js';

export interface FrameCodec {
  readonly kind: CodecKind;
  /**
   * True when payload views handed out by scan() alias memory the codec reuses
   * (WASM linear memory): the caller must copy a payload before the next load().
   */
  readonly payloadIsBorrowed: boolean;
  /** Records written by the last scan(), RECORD_WORDS words each. */
  readonly records: Int32Array;
  /** The largest chunk load() takes; the protocol feeds longer ones in pieces of this size. */
  readonly maxChunkBytes: number;
  /**
   * Memory the transport may read socket bytes straight into (WASM linear memory), or undefined.
   * A chunk that starts there is scanned where it lies: load() copies only the pending bytes in
   * front of it. All of a thread's connections share it: each read must be handed to receive()
   * before the next one lands. After the first call the codec's memory never grows again, so
   * the view (and a raw pointer to it held by the socket) stays valid.
   */
  readArea(): Uint8Array | undefined;
  /** A new, zeroed scan state for one connection. */
  createState(): Uint32Array;
  /**
   * Returns a work buffer holding `pending` (unconsumed bytes of the previous chunk,
   * at most a partial header) followed by `chunk`, where scan() may unmask in place.
   */
  load(pending: Uint8Array | null, chunk: Uint8Array): Uint8Array;
  /**
   * Scans work[start..]: writes records, updates state, sets state[S_CONSUMED].
   * Returns the record count. It stops early at a partial header (the rest is left
   * unconsumed) or when RECORD_CAPACITY records are written (call again from S_CONSUMED).
   */
  scan(state: Uint32Array, work: Uint8Array, start: number): number;
  /** XORs data[offset..offset+length) with maskKey starting at key byte `phase`; returns the next phase. */
  mask(data: Uint8Array, offset: number, length: number, maskKey: number, phase: number): number;
  /** Streams bytes through the UTF-8 validator from `state`; returns the new state. */
  validateUtf8(data: Uint8Array, offset: number, length: number, state: number): number;
  /**
   * Writes a frame header for a payload of `length` bytes into target at offset; `maskKey`
   * is written (and MASK set) unless it is undefined. Returns the header's byte length.
   */
  writeHeader(target: Uint8Array, offset: number, opcode: number, fin: boolean, length: number, maskKey?: number): number;
}

/** The byte length of a frame header for a payload length, with or without mask key. */
export function headerLength(payloadLength: number, masked: boolean): number {
  const base = payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10;
  return masked ? base + 4 : base;
}
