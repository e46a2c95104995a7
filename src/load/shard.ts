/**
 * A shard: one event loop's share of the run. It opens its connections at its ramp, drives the
 * scenario, reports progress once a second, and on `stop` closes every connection with a closing
 * handshake (1000) and reports its measurements. It runs the same in the main thread, a worker
 * thread or a child process; `emit` carries its messages to whoever coordinates.
 */
import { createCodec } from '../codec/select.js';
import type { FrameCodec } from '../codec/codec.js';
import { ABANDONED, LoadConnection, type ConnectionEvents, type ConnectionSettings } from './connection.js';
import type { ShardPlan } from './plan.js';
import { BroadcastScenario } from './scenarios/broadcast.js';
import { ConnectScenario } from './scenarios/connect.js';
import { EchoScenario } from './scenarios/echo.js';
import type { ScenarioContext, ScenarioDriver } from './scenarios/scenario.js';
import { ThreadCpu } from './thread-cpu.js';
import { ShardStats, type Counters, type ShardSnapshot } from './stats.js';

export type ShardMessage =
  | { type: 'started'; shard: number }
  | { type: 'progress'; shard: number; counters: Counters; errors: Record<string, number>; interval: string }
  | { type: 'ready'; shard: number }
  | { type: 'acked'; shard: number; acks: number[] }
  | { type: 'result'; shard: number; snapshot: ShardSnapshot };

export type ControlMessage = { type: 'go' } | { type: 'stop' } | { type: 'acked'; acks: number[] };

const PROGRESS_INTERVAL_MS = 1000;
const RAMP_TICK_MS = 10;
/** Unlimited ramp: connections opened per event-loop turn, so timers and reads still run. */
const OPEN_BATCH = 500;
/** After `stop`, the longest wait for answers in flight before the closing handshakes start. */
const DRAIN_LIMIT_MS = 2000;
const DRAIN_POLL_MS = 5;
/** One read buffer for all of a shard's plain-TCP connections when the scenario counts data frames. */
const SHARED_READ_BYTES = 256 * 1024;

export class Shard implements ScenarioContext, ConnectionEvents {
  readonly plan: ShardPlan;
  readonly stats = new ShardStats();
  readonly open: LoadConnection[] = [];
  stopping = false;

  readonly #emit: (message: ShardMessage) => void;
  readonly #codec: FrameCodec;
  readonly #driver: ScenarioDriver;
  readonly #live = new Set<LoadConnection>();
  readonly #finished: Promise<void>;
  #resolveFinished!: () => void;
  #started = 0;
  #settled = 0;
  #startedAt = 0;
  #firstOpenAt = -1;
  #lastOpenAt = -1;
  #rampTimer: NodeJS.Timeout | undefined;
  #progressTimer: NodeJS.Timeout | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  #ready = false;
  #reported = false;
  /** This thread's CPU while the traffic runs: from `go` (connect: from the start, the ramp is its work) to the stop. */
  readonly #cpu = new ThreadCpu();
  readonly #dataFrames: ConnectionSettings['dataFrames'];

  constructor(plan: ShardPlan, emit: (message: ShardMessage) => void) {
    this.plan = plan;
    this.#emit = emit;
    this.#codec = createCodec(plan.codec);
    this.#driver = plan.scenario === 'echo' ? new EchoScenario(this)
      : plan.scenario === 'broadcast' ? new BroadcastScenario(this)
        : new ConnectScenario(this);
    this.#finished = new Promise((resolve) => { this.#resolveFinished = resolve; });
    const frames = this.#driver.dataFrames;
    // With --deflate the protocol may hold on to a read while it inflates: each read gets its own buffer then.
    this.#dataFrames = frames === undefined ? undefined
      : { ...frames, readBuffer: plan.deflate === undefined ? Buffer.allocUnsafe(SHARED_READ_BYTES) : undefined };
  }

  /** Resolves once the result has been emitted. */
  get finished(): Promise<void> {
    return this.#finished;
  }

  start(): void {
    this.#emit({ type: 'started', shard: this.plan.shard });
    this.#startedAt = performance.now();
    this.#progressTimer = setInterval(() => this.#reportProgress(), PROGRESS_INTERVAL_MS);
    if (this.plan.connections === 0) this.#markReady();
    else if (this.plan.ramp > 0) this.#rampTimer = setInterval(() => this.#rampTick(), RAMP_TICK_MS);
    this.#rampTick();
  }

  control(message: ControlMessage): void {
    if (message.type === 'go') {
      if (this.plan.scenario !== 'connect') this.#cpu.mark();
      this.#driver.go();
    } else if (message.type === 'acked') this.#driver.acked?.(message.acks);
    else this.#stop();
  }

  reportAcks(acks: number[]): void {
    this.#emit({ type: 'acked', shard: this.plan.shard, acks });
  }

  // ConnectionEvents
  opened(conn: LoadConnection, handshakeMs: number, compressed: boolean): void {
    const now = performance.now();
    if (this.plan.deflate !== undefined) {
      if (compressed) this.stats.counters.deflateAgreed++;
      else this.stats.counters.deflateDeclined++;
    }
    if (this.#firstOpenAt < 0) this.#firstOpenAt = now;
    this.#lastOpenAt = now;
    this.stats.counters.opened++;
    this.stats.recordHandshake(handshakeMs);
    conn.slot = this.open.length;
    this.open.push(conn);
    this.#settle();
    this.#driver.opened(conn);
  }

  message(conn: LoadConnection, data: Buffer, isBinary: boolean): void {
    this.#driver.message(conn, data, isBinary);
  }

  ended(conn: LoadConnection, error: string | undefined, wasOpen: boolean): void {
    this.#live.delete(conn);
    if (conn.slot >= 0) this.#removeOpen(conn);
    if (wasOpen) this.#driver.closed?.(conn);
    if (error === ABANDONED) this.stats.counters.abandoned++;
    else if (error !== undefined) this.stats.countError(error);
    else if (this.stopping) this.stats.counters.closedClean++;
    if (!wasOpen) this.#settle();
    if (this.stopping && this.#live.size === 0) this.#finish();
  }

  #rampTick(): void {
    if (this.stopping) return;
    const { connections, ramp } = this.plan;
    const due = ramp > 0
      ? Math.min(connections, Math.ceil((performance.now() - this.#startedAt) * ramp / 1000))
      : Math.min(connections, this.#started + OPEN_BATCH);
    while (this.#started < due) this.#openNext();
    if (this.#started >= connections) clearInterval(this.#rampTimer);
    else if (ramp <= 0) setImmediate(() => this.#rampTick());
  }

  #openNext(): void {
    const { plan } = this;
    const local = this.#started++;
    const index = plan.firstConnection + local;
    const ips = plan.sourceIps;
    this.stats.counters.attempted++;
    const conn = new LoadConnection(index, {
      target: plan.target,
      codec: this.#codec,
      handshakeTimeoutMs: plan.handshakeTimeoutMs,
      deflate: plan.deflate,
      dataFrames: this.#dataFrames,
      localAddress: ips.length > 0 ? ips[index % ips.length] : undefined,
    }, this);
    conn.isPublisher = local >= plan.connections - plan.publishers;
    this.#live.add(conn);
  }

  /** One more attempt reached its outcome (open or failed); all of them → ready. */
  #settle(): void {
    this.#settled++;
    if (this.#settled >= this.plan.connections) this.#markReady();
  }

  #markReady(): void {
    if (this.#ready) return;
    this.#ready = true;
    this.#emit({ type: 'ready', shard: this.plan.shard });
  }

  #removeOpen(conn: LoadConnection): void {
    const last = this.open.pop()!;
    if (last !== conn) {
      this.open[conn.slot] = last;
      last.slot = conn.slot;
    }
    conn.slot = -1;
  }

  #reportProgress(): void {
    this.#emit({
      type: 'progress',
      shard: this.plan.shard,
      counters: this.#countersNow(),
      errors: Object.fromEntries(this.stats.errors),
      interval: this.stats.takeInterval(),
    });
  }

  #countersNow(): Counters {
    const counters = { ...this.stats.counters };
    if (!this.stopping) counters.openAtEnd = this.open.length;
    return counters;
  }

  #stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    const now = performance.now();
    clearInterval(this.#rampTimer);
    this.#driver.stop();
    this.stats.cpuPercent = this.#cpu.percentSinceMark();
    const counters = this.stats.counters;
    counters.openAtEnd = this.open.length;
    counters.activeMs = this.#firstOpenAt < 0 ? 0 : now - this.#firstOpenAt;
    counters.rampMs = this.#lastOpenAt < 0 ? 0 : this.#lastOpenAt - this.#startedAt;
    if (this.#live.size === 0) {
      this.#driver.settle?.();
      this.#finish();
      return;
    }
    // Attempts still connecting are abandoned now; open connections first drain what is in flight.
    for (const conn of [...this.#live]) if (conn.slot < 0) conn.close();
    this.#drain(now);
  }

  #drain(stoppedAt: number): void {
    const since = performance.now() - stoppedAt;
    if (!this.#driver.drained(since) && since < DRAIN_LIMIT_MS) {
      setTimeout(() => this.#drain(stoppedAt), DRAIN_POLL_MS);
      return;
    }
    this.#driver.settle?.();
    if (this.#live.size === 0) {
      this.#finish();
      return;
    }
    for (const conn of [...this.#live]) conn.close();
    // RFC 6455 §7.1.1: the server closes TCP after the close frames; past the deadline we drop it.
    this.#closeTimer = setTimeout(() => {
      for (const conn of [...this.#live]) conn.destroy('close-timeout');
    }, this.plan.closeTimeoutMs);
  }

  #finish(): void {
    if (this.#reported) return;
    this.#reported = true;
    clearInterval(this.#progressTimer);
    clearTimeout(this.#closeTimer);
    this.#emit({ type: 'result', shard: this.plan.shard, snapshot: this.stats.snapshot() });
    this.#resolveFinished();
  }
}
