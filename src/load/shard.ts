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
import { CustomScenario } from './scenarios/custom.js';
import { EchoScenario } from './scenarios/echo.js';
import { ReconnectStormScenario } from './scenarios/reconnect-storm.js';
import type { ScenarioContext, ScenarioDriver } from './scenarios/scenario.js';
import { stageTarget } from './stages.js';
import { ThreadCpu } from './thread-cpu.js';
import { ShardStats, type Counters, type ShardSnapshot } from './stats.js';

export type ShardMessage =
  | { type: 'started'; shard: number }
  | { type: 'progress'; shard: number; counters: Counters; errors: Record<string, number>; interval: string; at: number; cpuPercent: number }
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
  /** --stages: connections closed on a ramp down whose closing handshake is under way. */
  readonly #closingByStage = new Set<LoadConnection>();
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
  /** This thread's CPU since the last progress message (the series' generator CPU). */
  readonly #progressCpu = new ThreadCpu();
  readonly #dataFrames: ConnectionSettings['dataFrames'];

  constructor(plan: ShardPlan, emit: (message: ShardMessage) => void) {
    this.plan = plan;
    this.#emit = emit;
    this.#codec = createCodec(plan.codec);
    this.#driver = plan.scenario === 'echo' ? new EchoScenario(this)
      : plan.scenario === 'broadcast' ? new BroadcastScenario(this)
        : plan.scenario === 'reconnect-storm' ? new ReconnectStormScenario(this)
          : plan.scenario === 'custom' ? new CustomScenario(this)
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
    const prepared = this.#driver.prepare?.();
    if (prepared === undefined) this.#begin();
    else {
      prepared.then(() => this.#begin(), (error: Error) => {
        // The coordinator checked the module before the start: this is rare (a file changed since).
        this.stats.countError(`scenario-load ${error.message.split('\n')[0]}`);
        this.#markReady();
      });
    }
  }

  #begin(): void {
    if (this.stopping) return;
    this.#startedAt = performance.now();
    this.#progressCpu.mark();
    this.#progressTimer = setInterval(() => this.#reportProgress(), PROGRESS_INTERVAL_MS);
    // With stages the connections come and go over the whole run: the traffic starts at once.
    if (this.plan.connections === 0 || this.plan.stages !== undefined) this.#markReady();
    if (this.plan.connections === 0) return;
    if (this.plan.ramp > 0 || this.plan.stages !== undefined) this.#rampTimer = setInterval(() => this.#rampTick(), RAMP_TICK_MS);
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
    if (conn.readsDataFrames && conn.isOpen) this.stats.counters.slowPath++;
    this.#driver.message(conn, data, isBinary);
  }

  ended(conn: LoadConnection, error: string | undefined, wasOpen: boolean): void {
    this.#live.delete(conn);
    this.#closingByStage.delete(conn);
    if (conn.slot >= 0) this.#removeOpen(conn);
    if (this.#driver.ended?.(conn, error, wasOpen) === true) {
      // The scenario ended it on purpose (a reconnect storm's drop).
    } else if (error === ABANDONED) this.stats.counters.abandoned++;
    else if (error !== undefined) this.stats.countError(error);
    else this.stats.counters.closedClean++; // no error: the closing handshake we started completed
    if (!wasOpen) this.#settle();
    if (this.stopping && this.#live.size === 0) this.#finish();
  }

  openConnection(): LoadConnection {
    return this.#openNext();
  }

  /** --stages: opens or closes connections so that as many are open as the stage wants now. */
  #followStages(): void {
    const target = stageTarget(this.plan.stages!, performance.now() - this.#startedAt);
    let active = this.#live.size - this.#closingByStage.size;
    while (active < target) {
      this.#openNext();
      active++;
    }
    if (active <= target) return;
    // Ramp down: attempts still connecting go first, then the newest open connections.
    const connecting = [...this.#live].filter((conn) => conn.slot < 0 && !this.#closingByStage.has(conn));
    for (const conn of connecting) {
      if (active <= target) return;
      this.#closingByStage.add(conn);
      conn.close();
      active--;
    }
    for (let i = this.open.length - 1; i >= 0 && active > target; i--) {
      const conn = this.open[i];
      if (this.#closingByStage.has(conn)) continue;
      this.#closingByStage.add(conn);
      conn.close();
      active--;
    }
  }

  #rampTick(): void {
    if (this.stopping) return;
    if (this.plan.stages !== undefined) {
      this.#followStages();
      return;
    }
    const { connections, ramp } = this.plan;
    const due = ramp > 0
      ? Math.min(connections, Math.ceil((performance.now() - this.#startedAt) * ramp / 1000))
      : Math.min(connections, this.#started + OPEN_BATCH);
    while (this.#started < due) this.#openNext();
    if (this.#started >= connections) clearInterval(this.#rampTimer);
    else if (ramp <= 0) setImmediate(() => this.#rampTick());
  }

  #openNext(): LoadConnection {
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
    conn.isPublisher = local < plan.connections && local >= plan.connections - plan.publishers;
    this.#live.add(conn);
    return conn;
  }

  /** One more attempt reached its outcome (open or failed); all of them → ready, once the scenario is. */
  #settle(): void {
    this.#settled++;
    if (this.#settled !== this.plan.connections) return;
    if (this.#driver.ready === undefined) this.#markReady();
    else this.#driver.ready(() => this.#markReady());
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
      at: performance.timeOrigin + performance.now(),
      cpuPercent: this.#progressCpu.percentSinceMark(),
    });
    this.#progressCpu.mark();
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
    this.#emit({ type: 'result', shard: this.plan.shard, snapshot: { ...this.stats.snapshot(), scenario: this.#driver.report?.() } });
    this.#resolveFinished();
  }
}
