/**
 * CPU per received message of the server's protocol, measured without sockets: a
 * WebSocketProtocol (server role, echoing each message back through send()) is fed the same
 * pre-built 64 KiB chunks of masked client frames again and again; the sink's writes are
 * counted and dropped. Cases: 16 B and 1 KiB binary messages, and 1 KiB messages in 64-byte
 * fragments; with the WASM codec a chunk either comes from outside linear memory (load()
 * copies it) or already lies in the codec's read area (as a socket read into memory leaves
 * it; binary payloads are unmasked again on each pass, which costs the same).
 *
 *   node dist/test/measure/receive-cost.js [--rounds 5] [--chunks 400]
 *
 * Prints the median ns per message of each case. Not an ava test: compare builds A/B by
 * running it alternately from two checkouts (the script only uses the public protocol API).
 */
import { parseArgs } from 'node:util';
import { createCodec } from '../../src/codec/select.js';
import type { FrameCodec } from '../../src/codec/codec.js';
import { WebSocketProtocol } from '../../src/protocol/protocol.js';

const CHUNK_BYTES = 64 * 1024;
const MASK = [0x11, 0x22, 0x33, 0x44];

function maskedFrame(opcode: number, fin: boolean, payload: Buffer): Buffer {
  const length = payload.length;
  const headerLength = (length < 126 ? 2 : 4) + 4;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = (fin ? 0x80 : 0) | opcode;
  if (length < 126) frame[1] = 0x80 | length;
  else { frame[1] = 0x80 | 126; frame.writeUInt16BE(length, 2); }
  for (let i = 0; i < 4; i++) frame[headerLength - 4 + i] = MASK[i];
  for (let i = 0; i < length; i++) frame[headerLength + i] = payload[i] ^ MASK[i & 3];
  return frame;
}

/** Whole messages packed into one chunk of at most CHUNK_BYTES; returns the chunk and its message count. */
function chunkOf(message: (i: number) => Buffer[]): { chunk: Buffer; messages: number } {
  const frames: Buffer[] = [];
  let bytes = 0;
  let messages = 0;
  for (;;) {
    const next = message(messages);
    const size = next.reduce((n, f) => n + f.length, 0);
    if (bytes + size > CHUNK_BYTES) break;
    frames.push(...next);
    bytes += size;
    messages++;
  }
  return { chunk: Buffer.concat(frames), messages };
}

const CASES = {
  'binary 16 B': () => chunkOf(() => [maskedFrame(2, true, Buffer.alloc(16, 7))]),
  'binary 1 KiB': () => chunkOf(() => [maskedFrame(2, true, Buffer.alloc(1024, 7))]),
  '1 KiB in 64 B fragments': () => chunkOf(() => Array.from({ length: 16 }, (_, j) => maskedFrame(j === 0 ? 2 : 0, j === 15, Buffer.alloc(64, 7)))),
};

function measure(codec: FrameCodec, chunk: Uint8Array, messagesPerChunk: number, chunks: number): number {
  let received = 0;
  let written = 0;
  const protocol: WebSocketProtocol = new WebSocketProtocol(codec, {
    message(data, isBinary) {
      received++;
      protocol.send(data, isBinary);
    },
    write(first, second) {
      written += first.length + (second?.length ?? 0);
    },
    closeTransport() { throw new Error('the stream closed the connection'); },
  }, { role: 'server', maxPayload: 16 * 1024 * 1024 });
  const start = process.hrtime.bigint();
  for (let i = 0; i < chunks; i++) protocol.receive(chunk);
  const elapsed = Number(process.hrtime.bigint() - start);
  if (received !== messagesPerChunk * chunks || written === 0) throw new Error(`received ${received} of ${messagesPerChunk * chunks}`);
  return elapsed / received;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, chunks: { type: 'string', default: '400' } } });
const rounds = Number(values.rounds);
const chunks = Number(values.chunks);

for (const [name, build] of Object.entries(CASES)) {
  const { chunk, messages } = build();
  const variants: [string, () => { codec: FrameCodec; input: Uint8Array }][] = [
    ['js', () => ({ codec: createCodec('js'), input: chunk })],
    ['wasm, chunk from outside', () => ({ codec: createCodec('wasm'), input: chunk })],
  ];
  // A build without readArea() (before zero-copy reads) has no in-place case.
  if (typeof (createCodec('wasm') as { readArea?: unknown }).readArea === 'function') {
    variants.push(['wasm, chunk in read area', () => {
      const codec = createCodec('wasm');
      const area = (codec as unknown as { readArea(): Uint8Array }).readArea();
      area.set(chunk);
      return { codec, input: area.subarray(0, chunk.length) };
    }]);
  }
  for (const [variant, setup] of variants) {
    const { codec, input } = setup();
    measure(codec, input, messages, 50); // warm-up
    const results = Array.from({ length: rounds }, () => measure(codec, input, messages, chunks));
    console.log(`${name.padEnd(24)} ${variant.padEnd(26)} ${median(results).toFixed(0).padStart(6)} ns/message (median of ${rounds})`);
  }
}
