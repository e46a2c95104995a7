/**
 * A fast path for the frames a load test receives most: whole, unfragmented, unmasked text or
 * binary frames from the server, read straight from the socket's bytes without building a
 * message. A frame in one read is handed on as a view of those bytes; a frame split over reads
 * is never assembled: its first bytes (HEAD_BYTES, or as many as the scenario asks) are kept, the rest compared with the expected
 * payload as it arrives, and its end reported with the head, the length and whether it matched.
 *
 * Anything else (a control frame, a fragment, RSV bits, a masked frame, a length past
 * CLIENT_MAX_PAYLOAD) is not this reader's: `read` returns the bytes from that frame's first
 * header byte on, and the caller hands them, and everything after, to the full RFC 6455
 * protocol, which starts there at a frame boundary, between messages. The reader is then between
 * frames too: once the protocol is between messages again (a ping answered, a fragmented message
 * ended), the caller gives it the next read.
 */

/** Payload bytes kept from the start of a split frame, unless the scenario asks for more: the echo payload's stamp. */
export const HEAD_BYTES = 16;
/** RFC 6455 §5.2: FIN set, RSV clear, opcode text (1) or binary (2). */
const FIN_TEXT = 0x81;
const FIN_BINARY = 0x82;
const MASK_BIT = 0x80;
const TWO_POW_32 = 0x1_0000_0000;

export interface DataFrameHandler<C> {
  /**
   * A whole frame in one read: its payload is bytes[start, start + length), in the read buffer,
   * valid during the call only (no object is made per frame: a handler that needs a view makes it).
   */
  frame(conn: C, bytes: Buffer, start: number, length: number, isBinary: boolean): void;
  /**
   * A frame that came over several reads has ended: its first bytes (up to the head size, a buffer
   * reused for the next frame), its length, and whether every byte past the head equalled the
   * expected payload's.
   */
  splitFrame(conn: C, head: Buffer, length: number, isBinary: boolean, bodyMatches: boolean): void;
}

export class DataFrameReader<C> {
  readonly #conn: C;
  readonly #handler: DataFrameHandler<C>;
  /** What a split frame's bytes past the head are compared with. */
  readonly #expected: Buffer;
  readonly #maxPayload: number;
  /** A header that was split over reads. */
  readonly #header = Buffer.alloc(10);
  #headerFilled = 0;
  // The split frame being read.
  readonly #head: Buffer;
  readonly #headBytes: number;
  #length = 0;
  #offset = 0;
  #remaining = 0;
  #isBinary = false;
  #matches = true;
  #handOver = false;

  constructor(conn: C, handler: DataFrameHandler<C>, expected: Buffer, maxPayload: number, headBytes = HEAD_BYTES) {
    this.#headBytes = headBytes;
    this.#head = Buffer.alloc(headBytes);
    this.#conn = conn;
    this.#handler = handler;
    this.#expected = expected;
    this.#maxPayload = maxPayload;
  }

  /** From the next frame boundary on, the protocol reads (our close frame was sent). */
  handOver(): void {
    this.#handOver = true;
  }

  /**
   * Reads `chunk`; returns undefined when it was all this reader's, else the bytes from the first
   * frame it does not take (a header kept from an earlier read included), for the protocol.
   */
  read(chunk: Buffer): Buffer | undefined {
    const end = chunk.length;
    let at = 0;
    while (at < end) {
      if (this.#remaining > 0) {
        const n = Math.min(this.#remaining, end - at);
        this.#part(chunk, at, at + n);
        at += n;
        this.#remaining -= n;
        if (this.#remaining === 0) {
          this.#handler.splitFrame(this.#conn, this.#length < this.#headBytes ? this.#head.subarray(0, this.#length) : this.#head,
            this.#length, this.#isBinary, this.#matches);
        }
        continue;
      }
      // A header starts here, or continues one kept from the last read.
      let header: Uint8Array = chunk;
      let h = at;
      if (this.#headerFilled > 0 || end - at < 2 || end - at < headerBytes(chunk[at + 1]!)) {
        const wanted = this.#headerFilled < 2 ? 2 : headerBytes(this.#header[1]!);
        const n = Math.min(wanted - this.#headerFilled, end - at);
        chunk.copy(this.#header, this.#headerFilled, at, at + n);
        this.#headerFilled += n;
        at += n;
        if (this.#headerFilled < 2 || this.#headerFilled < headerBytes(this.#header[1]!)) continue;
        header = this.#header;
        h = 0;
      }
      const b0 = header[h]!, b1 = header[h + 1]!;
      const size = headerBytes(b1);
      const length = payloadLength(header, h, b1);
      if (this.#handOver || (b0 !== FIN_TEXT && b0 !== FIN_BINARY) || (b1 & MASK_BIT) !== 0 || length > this.#maxPayload) {
        return this.#rest(chunk, at, header === chunk);
      }
      if (header === chunk) at += size;
      this.#headerFilled = 0;
      const isBinary = b0 === FIN_BINARY;
      if (end - at >= length) {
        this.#handler.frame(this.#conn, chunk, at, length, isBinary);
        at += length;
        continue;
      }
      this.#length = length;
      this.#offset = 0;
      this.#remaining = length;
      this.#isBinary = isBinary;
      this.#matches = true;
    }
    return undefined;
  }

  /**
   * What the protocol reads from here: the frame's header and all after it. `at` is where the
   * header starts in `chunk`, or, for a header kept over reads, where `chunk` goes on after it.
   */
  #rest(chunk: Buffer, at: number, headerInChunk: boolean): Buffer {
    if (headerInChunk) return chunk.subarray(at);
    const kept = this.#header.subarray(0, this.#headerFilled);
    this.#headerFilled = 0;
    return Buffer.concat([kept, chunk.subarray(at)]);
  }

  #part(chunk: Buffer, from: number, to: number): void {
    const offset = this.#offset;
    const headBytes = this.#headBytes;
    if (offset < headBytes) chunk.copy(this.#head, offset, from, from + Math.min(headBytes - offset, to - from));
    const last = offset + (to - from);
    if (this.#matches && last > headBytes) {
      const first = Math.max(offset, headBytes);
      this.#matches = last <= this.#expected.length
        && chunk.compare(this.#expected, first, last, from + (first - offset), to) === 0;
    }
    this.#offset = last;
  }
}

/** The header's size from its second byte (no mask key: server frames are unmasked). */
function headerBytes(b1: number): number {
  const length7 = b1 & 0x7f;
  return length7 < 126 ? 2 : length7 === 126 ? 4 : 10;
}

function payloadLength(header: Uint8Array, h: number, b1: number): number {
  const length7 = b1 & 0x7f;
  if (length7 < 126) return length7;
  if (length7 === 126) return (header[h + 2]! << 8) | header[h + 3]!;
  const high = ((header[h + 2]! << 24) | (header[h + 3]! << 16) | (header[h + 4]! << 8) | header[h + 5]!) >>> 0;
  const low = ((header[h + 6]! << 24) | (header[h + 7]! << 16) | (header[h + 8]! << 8) | header[h + 9]!) >>> 0;
  return high * TWO_POW_32 + low;
}
