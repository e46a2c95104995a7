/**
 * echo: every connection keeps K messages in flight (the next one leaves when a reply comes back),
 * or the shard sends at a fixed rate round-robin over its connections. Each reply must be the next
 * message sent on that connection, same type and the same bytes; its round trip is read from its own bytes.
 */
import type { LoadConnection } from '../connection.js';
import type { DataFrameHandler } from '../data-frame-reader.js';
import { createEchoPayload, echoBodyMatches, readEchoSentAt, readEchoSeq, sequenceModulus, stampEchoPayload } from '../payload.js';
import { describeMessage } from '../hints.js';
import { SendTimes } from '../send-times.js';
import { CorkBatch, PACED_QUEUE_LIMIT, RatePacer, type ScenarioContext, type ScenarioDriver } from './scenario.js';

const MISMATCH_NOT_ECHO = 'mismatchNotEcho', MISMATCH_TYPE = 'mismatchType';
const MISMATCH_SEQUENCE = 'mismatchSequence', MISMATCH_CONTENT = 'mismatchContent';

export class EchoScenario implements ScenarioDriver, DataFrameHandler<LoadConnection> {
  readonly #context: ScenarioContext;
  /** One payload for the whole shard: the protocol copies it into each frame before masking. */
  readonly #payload: Buffer;
  readonly #size: number;
  readonly #binary: boolean;
  readonly #modulus: number;
  readonly #pacer: RatePacer | undefined;
  readonly #batch = new CorkBatch();
  #next = 0;
  #settled = false;
  /** Replies need no message built: the stamp and a byte comparison say all (see message()). */
  readonly dataFrames: { handler: DataFrameHandler<LoadConnection>; expected: Buffer };

  constructor(context: ScenarioContext) {
    this.#context = context;
    const { size, binary, rate } = context.plan;
    this.#size = size;
    this.#binary = binary;
    this.#payload = createEchoPayload(size, binary, context.plan.payload);
    this.#modulus = sequenceModulus(binary);
    this.dataFrames = { handler: this, expected: this.#payload };
    if (rate > 0) {
      this.#pacer = new RatePacer(rate, (intendedAt, actualAt) => this.#sendPaced(intendedAt, actualAt), () => this.#batch.begin(), () => this.#batch.flush());
    }
  }

  opened(conn: LoadConnection): void {
    if (this.#pacer !== undefined) {
      conn.sendTimes = new SendTimes();
      this.#pacer.start(); // the clock starts with the first open connection
      return;
    }
    // In-flight mode: the connection is not corked outside a read, so cork the initial burst.
    conn.cork();
    for (let k = 0; k < this.#context.plan.inFlight; k++) this.#send(conn, performance.now());
    conn.uncork();
  }

  message(conn: LoadConnection, data: Buffer, isBinary: boolean): void {
    this.#reply(conn, data, data.length, isBinary, echoBodyMatches(data, this.#payload));
  }

  // DataFrameHandler: a reply read straight from the socket's bytes.
  frame(conn: LoadConnection, bytes: Buffer, start: number, length: number, isBinary: boolean): void {
    const payload = bytes.subarray(start, start + length);
    this.#reply(conn, payload, length, isBinary, echoBodyMatches(payload, this.#payload));
  }

  splitFrame(conn: LoadConnection, head: Buffer, length: number, isBinary: boolean, bodyMatches: boolean): void {
    this.#reply(conn, head, length, isBinary, bodyMatches);
  }

  /**
   * One reply: `head` holds at least its stamp; `bodyMatches` says whether the rest equals what
   * was sent. Byte for byte, so what a server (or a compressor and inflater) changed shows up, and
   * a text reply equal to our ASCII is valid UTF-8 by that alone.
   */
  #reply(conn: LoadConnection, head: Buffer, length: number, isBinary: boolean, bodyMatches: boolean): void {
    const now = performance.now();
    const stats = this.#context.stats;
    const seq = readEchoSeq(head, this.#binary);
    // Byte for byte: what a server (or a compressor and inflater) changed shows up here.
    const mismatch = seq < 0 ? MISMATCH_NOT_ECHO : isBinary !== this.#binary ? MISMATCH_TYPE
      : seq !== conn.expectedSeq ? MISMATCH_SEQUENCE : length !== this.#size || !bodyMatches ? MISMATCH_CONTENT : undefined;
    if (mismatch !== undefined) {
      stats.counters[mismatch]++;
      stats.countError('echo-mismatch');
      stats.sampleError('echo-mismatch', () => describeMessage(head, isBinary));
      this.#dropSendTimes(conn, seq);
    } else {
      stats.recordLatency(now - readEchoSentAt(head, this.#binary));
      if (this.#pacer !== undefined) stats.recordService(now - conn.sendTimes!.shift());
      stats.counters.received++;
      stats.counters.bytesReceived += length;
    }
    if (seq >= 0) conn.expectedSeq = (seq + 1) % this.#modulus;
    conn.inFlight--;
    // The socket is corked by the read that delivered this reply: the next message joins its write.
    if (this.#pacer === undefined && !this.#context.stopping) this.#send(conn, now);
  }

  go(): void {}

  stop(): void {
    this.#pacer?.stop();
  }

  /** Every message sent has come back: replies that arrive after our close frame would be lost. */
  drained(): boolean {
    for (const conn of this.#context.open) if (conn.inFlight > 0) return false;
    return true;
  }

  /** A connection that closed before the end of the run: its messages in flight never came back. */
  ended(conn: LoadConnection, _error: string | undefined, wasOpen: boolean): boolean {
    if (wasOpen && !this.#settled) this.#context.stats.counters.lost += Math.max(0, conn.inFlight);
    return false;
  }

  /** After the drain: what is still in flight never came back. */
  settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    for (const conn of this.#context.open) this.#context.stats.counters.lost += Math.max(0, conn.inFlight);
  }

  /**
   * Paced: a reply that is not the one expected takes its send time off the queue, and a reply
   * ahead of the expected one also those of the messages it skipped (they never came back), so the
   * next reply's service time counts from its own send.
   */
  #dropSendTimes(conn: LoadConnection, seq: number): void {
    const times = conn.sendTimes;
    if (times === undefined) return;
    const skipped = seq < 0 ? 0 : (seq - conn.expectedSeq + this.#modulus) % this.#modulus;
    const count = skipped < times.length ? skipped + 1 : 1;
    for (let k = 0; k < count; k++) times.shift();
  }

  /** `sentAt`: the time the round trip counts from (paced: the intended send time). */
  #send(conn: LoadConnection, sentAt: number): boolean {
    stampEchoPayload(this.#payload, this.#binary, conn.nextSeq, sentAt);
    if (!conn.send(this.#payload, this.#binary)) return false;
    conn.nextSeq = (conn.nextSeq + 1) % this.#modulus;
    conn.inFlight++;
    const counters = this.#context.stats.counters;
    counters.sent++;
    counters.bytesSent += this.#size;
    return true;
  }

  #sendPaced(intendedAt: number, actualAt: number): void {
    const open = this.#context.open;
    if (open.length === 0) {
      this.#context.stats.counters.skipped++;
      return;
    }
    const conn = open[this.#next++ % open.length];
    if (conn.bufferedAmount > PACED_QUEUE_LIMIT) {
      this.#context.stats.counters.skipped++;
      return;
    }
    this.#batch.add(conn);
    if (this.#send(conn, intendedAt)) conn.sendTimes!.push(actualAt);
  }
}
