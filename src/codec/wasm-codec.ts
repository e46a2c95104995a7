/**
 * WasmCodec: the FrameCodec backed by assembly/ (AssemblyScript compiled to WebAssembly).
 *
 * Linear memory layout (the module owns everything below heapBase()):
 *   state area · record area · header scratch | copy scratch (COPY_SCRATCH_BYTES) |
 *   work: pending headroom (PENDING_HEADROOM_BYTES) · read area (READ_AREA_BYTES) →
 * A socket reads straight into the read area (readArea()); load() then only puts the pending
 * bytes (at most a partial header) in the headroom just before it, and scan() unmasks where the
 * kernel put the bytes. A chunk from elsewhere is copied to the same place (one copy). Either
 * way scan() and the payload views it hands out alias linear memory: payloadIsBorrowed.
 * mask() and validateUtf8() on bytes outside linear memory stream them through the copy
 * scratch, which never overlaps the work area, so borrowed payloads survive those calls.
 */
import { readFileSync } from 'node:fs';
import type { FrameCodec } from './codec.js';
import * as layout from './layout.js';
import { RECORD_CAPACITY, RECORD_WORDS, SCAN_STATE_WORDS } from './layout.js';
import { noteReusedMemory } from './lent-memory.js';

/** The compiled module, relative to dist/src/codec/wasm-codec.js. */
const WASM_URL = new URL('../../../build/wasmsocket.wasm', import.meta.url);
const PAGE_BYTES = 65536;
/** Bytes of foreign data that mask() / validateUtf8() copy in per WASM call. */
const COPY_SCRATCH_BYTES = 32 * 1024;
const TWO_POW_32 = 0x1_0000_0000;
/** Room for the pending bytes before a read: the protocol keeps at most a partial header (13 bytes). */
const PENDING_HEADROOM_BYTES = 16;
/**
 * One socket read, and the largest chunk load() takes once pinned. Memory of the thread, not of
 * a connection: room for a few 64 KiB messages with their headers, so that such a message
 * arrives in one read (handed on without assembly, or lent as a view) rather than in two.
 */
export const READ_AREA_BYTES = 256 * 1024;

/** The exports of assembly/index.ts (pointers and u32 values are i32 on the JS side). */
interface CodecExports {
  readonly memory: WasmMemory;
  stateOffset(): number;
  recordsOffset(): number;
  headerOffset(): number;
  heapBase(): number;
  scan(work: number, start: number, end: number): number;
  mask(ptr: number, length: number, maskKey: number, phase: number): number;
  validateUtf8(ptr: number, length: number, state: number): number;
  writeHeader(target: number, opcode: number, fin: number, lengthLo: number, lengthHi: number, maskKey: number, masked: number): number;
}

// lib ES2022 and @types/node 20 do not declare WebAssembly: describe the little we use, locally.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiledModule: object | undefined;

/**
 * Both sides compile src/codec/layout.ts, but build/wasmsocket.wasm may predate a change to it:
 * the module exports every layout constant, and each must equal ours, or records would be misread.
 */
export function checkLayout(exports: Record<string, unknown>): void {
  for (const [name, expected] of Object.entries(layout)) {
    const global = exports[name] as { value?: unknown } | undefined;
    const actual = global?.value;
    if (actual !== expected) {
      throw new RangeError(`build/wasmsocket.wasm does not match src/codec/layout.ts: ${name} is ${actual === undefined ? 'missing' : String(actual)} there, ${expected} here; rebuild with npm run build:wasm`);
    }
  }
}

/** WASM writes raw memory: a range outside `data` would corrupt the state or records, so refuse it. */
function checkRange(method: string, data: Uint8Array, offset: number, length: number): void {
  if (!(offset >= 0 && length >= 0 && offset + length <= data.length)) {
    throw new RangeError(`WasmCodec.${method}: [${offset}, ${offset + length}) is outside the data (length ${data.length})`);
  }
}

export class WasmCodec implements FrameCodec {
  readonly kind = 'wasm' as const;
  /** Payload views point into linear memory, which the next load() overwrites. */
  readonly payloadIsBorrowed = true;
  readonly maxChunkBytes = READ_AREA_BYTES;

  readonly #exports: CodecExports;
  readonly #memory: WasmMemory;
  readonly #stateOffset: number;
  readonly #recordsOffset: number;
  readonly #headerOffset: number;
  readonly #scratchOffset: number;
  readonly #workOffset: number;
  readonly #readOffset: number;
  /** readArea() was handed out: memory must not grow (a socket holds a raw pointer into it). */
  #pinned = false;
  #readArea: Uint8Array | undefined;
  // Memory grows only in #reserve(), which refreshes these views: #buffer is always memory.buffer.
  #buffer!: ArrayBuffer;
  #bytes!: Uint8Array;
  #state!: Uint32Array;
  #records!: Int32Array;

  constructor(module: object) {
    const instance = new wasmApi.Instance(module, {});
    checkLayout(instance.exports as Record<string, unknown>);
    this.#exports = instance.exports as CodecExports;
    this.#memory = this.#exports.memory;
    this.#stateOffset = this.#exports.stateOffset();
    this.#recordsOffset = this.#exports.recordsOffset();
    this.#headerOffset = this.#exports.headerOffset();
    this.#scratchOffset = this.#exports.heapBase();
    this.#workOffset = this.#scratchOffset + COPY_SCRATCH_BYTES;
    this.#readOffset = this.#workOffset + PENDING_HEADROOM_BYTES;
    this.#refreshViews();
    this.#reserve(this.#readOffset + READ_AREA_BYTES);
  }

  /** Records written by the last scan(): a view of the WASM record area. */
  get records(): Int32Array {
    return this.#records;
  }

  createState(): Uint32Array {
    return new Uint32Array(SCAN_STATE_WORDS);
  }

  readArea(): Uint8Array {
    // One view for every socket of the thread (each socket keeps what it is given); memory never
    // grows once it is handed out, so the view stays valid.
    if (this.#readArea === undefined) {
      this.#pinned = true;
      this.#readArea = this.#bytes.subarray(this.#readOffset, this.#readOffset + READ_AREA_BYTES);
    }
    return this.#readArea;
  }

  load(pending: Uint8Array | null, chunk: Uint8Array): Uint8Array {
    const pendingLength = pending === null ? 0 : pending.length;
    const buffer = this.#buffer;
    const chunkAt = chunk.buffer === buffer ? chunk.byteOffset : -1;
    if (chunkAt >= this.#readOffset && chunkAt - pendingLength >= this.#workOffset) {
      // Read straight into the read area: no copy at all but the pending bytes' in front of it.
      const start = chunkAt - pendingLength;
      if (pendingLength > 0) this.#placePending(pending!, start);
      return this.#bytes.subarray(start, chunkAt + chunk.length);
    }
    const start = Math.max(this.#workOffset, this.#readOffset - pendingLength);
    const end = start + pendingLength + chunk.length;
    // Bytes elsewhere in linear memory could be overwritten by the pending bytes' move: copy first.
    const source = chunkAt === -1 ? chunk : chunk.slice();
    // Growth detaches views of the old buffer: note where in-memory pending bytes are first.
    const pendingAt = pending !== null && pending.buffer === buffer ? pending.byteOffset : -1;
    this.#reserve(end);
    if (pendingLength > 0) {
      if (pendingAt !== -1) this.#bytes.copyWithin(start, pendingAt, pendingAt + pendingLength);
      else this.#bytes.set(pending!, start);
    }
    this.#bytes.set(source, start + pendingLength);
    return this.#bytes.subarray(start, end);
  }

  #placePending(pending: Uint8Array, start: number): void {
    if (pending.buffer === this.#buffer) this.#bytes.copyWithin(start, pending.byteOffset, pending.byteOffset + pending.length);
    else this.#bytes.set(pending, start);
  }

  scan(state: Uint32Array, work: Uint8Array, start: number): number {
    if (work.buffer !== this.#buffer) {
      throw new TypeError('WasmCodec.scan: work must be a view of WASM memory, as returned by the last load()');
    }
    if (!(start >= 0 && start <= work.length)) {
      throw new RangeError(`WasmCodec.scan: start ${start} is outside the work buffer (0..${work.length})`);
    }
    const stateArea = this.#state;
    stateArea.set(state);
    const count = this.#exports.scan(work.byteOffset, start, work.length);
    state.set(stateArea);
    return count;
  }

  mask(data: Uint8Array, offset: number, length: number, maskKey: number, phase: number): number {
    checkRange('mask', data, offset, length);
    if (data.buffer === this.#buffer) {
      return this.#exports.mask(data.byteOffset + offset, length, maskKey, phase);
    }
    const bytes = this.#bytes;
    const scratch = this.#scratchOffset;
    for (let done = 0; done < length;) {
      const n = Math.min(COPY_SCRATCH_BYTES, length - done);
      const part = data.subarray(offset + done, offset + done + n);
      bytes.set(part, scratch);
      phase = this.#exports.mask(scratch, n, maskKey, phase);
      part.set(bytes.subarray(scratch, scratch + n));
      done += n;
    }
    return phase & 3;
  }

  validateUtf8(data: Uint8Array, offset: number, length: number, state: number): number {
    checkRange('validateUtf8', data, offset, length);
    if (data.buffer === this.#buffer) {
      return this.#exports.validateUtf8(data.byteOffset + offset, length, state);
    }
    const bytes = this.#bytes;
    const scratch = this.#scratchOffset;
    for (let done = 0; done < length;) {
      const n = Math.min(COPY_SCRATCH_BYTES, length - done);
      bytes.set(data.subarray(offset + done, offset + done + n), scratch);
      state = this.#exports.validateUtf8(scratch, n, state);
      done += n;
    }
    return state;
  }

  writeHeader(target: Uint8Array, offset: number, opcode: number, fin: boolean, length: number, maskKey?: number): number {
    const header = this.#headerOffset;
    const size = this.#exports.writeHeader(
      header, opcode, fin ? 1 : 0, length >>> 0, Math.floor(length / TWO_POW_32),
      maskKey ?? 0, maskKey === undefined ? 0 : 1,
    );
    const bytes = this.#bytes;
    for (let i = 0; i < size; i++) target[offset + i] = bytes[header + i];
    return size;
  }

  /** Grows linear memory so that it holds at least `end` bytes. */
  #reserve(end: number): void {
    const have = this.#buffer.byteLength;
    if (end > have) {
      if (this.#pinned) {
        throw new RangeError(`WasmCodec.load: ${end - this.#workOffset} bytes do not fit the read area once it is in use; feed chunks of at most ${READ_AREA_BYTES} bytes`);
      }
      this.#memory.grow(Math.ceil((end - have) / PAGE_BYTES));
      this.#refreshViews();
    }
  }

  #refreshViews(): void {
    const buffer = this.#memory.buffer;
    noteReusedMemory(buffer);
    this.#buffer = buffer;
    this.#bytes = new Uint8Array(buffer);
    this.#state = new Uint32Array(buffer, this.#stateOffset, SCAN_STATE_WORDS);
    this.#records = new Int32Array(buffer, this.#recordsOffset, RECORD_CAPACITY * RECORD_WORDS);
  }
}

/** Compiles build/wasmsocket.wasm once per process (synchronously) and returns a new codec instance. */
export function createWasmCodec(): WasmCodec {
  compiledModule ??= new wasmApi.Module(readFileSync(WASM_URL));
  return new WasmCodec(compiledModule);
}
