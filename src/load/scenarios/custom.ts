/**
 * Your own protocol: `--scenario ./chat.mjs` loads a module of hooks and drives it on every
 * connection. The module says what to send when a connection opens (`open`), on a schedule
 * (`tick`, every `intervalMs` per connection, or at --rate over all of them) and what to do with
 * what the server sends (`message`). It marks replies with `conn.reply(key)`: the generator
 * counts them and times them from the send that carried the same key.
 */
import { fileURLToPath } from 'node:url';
import type { LoadConnection } from '../connection.js';
import { CorkBatch, PACED_QUEUE_LIMIT, RatePacer, type ScenarioContext, type ScenarioDriver } from './scenario.js';

/** What the module's hooks get for a connection. */
export interface ScriptConnection {
  /** Unique within the run: "<thread>.<n>". */
  readonly id: string;
  /** Yours: keep per-connection state here. */
  readonly state: Record<string, unknown>;
  /** Sends a text (string) or binary (Uint8Array) message; with `key`, its send time is kept for reply(key). */
  send(data: string | Uint8Array, key?: string | number): boolean;
  /** The server answered the send that carried `key`: counts a message received and its latency (ms, returned). */
  reply(key: string | number): number | undefined;
  /** Counts a message received without a latency (a push from the server). */
  received(): void;
  /** Counts an error of this kind (it shows in the summary's errors). */
  error(kind: string): void;
  /** Starts the closing handshake (1000). */
  close(): void;
}

export interface ScenarioHooks {
  open?(conn: ScriptConnection): void;
  message(conn: ScriptConnection, data: string | Buffer, isBinary: boolean): void;
  tick?(conn: ScriptConnection, n: number): void;
  /** ms between two ticks of one connection (default 1000); --rate replaces it. */
  intervalMs?: number;
}

const HOOK_NAMES = ['open', 'message', 'tick'] as const;
const DEFAULT_INTERVAL_MS = 1000;
/** After the stop, answers to keyed sends are awaited at most this long (the shard bounds it too). */
const REPLY_GRACE_MS = 1000;

/**
 * Imports the module and checks its hooks. Throws an Error with a one-line message that names
 * the file and what is wrong (the CLI reports it as a usage error).
 */
export async function loadScenarioModule(url: string): Promise<ScenarioHooks> {
  const where = `--scenario ${fileURLToPath(url)}`;
  let namespace: Record<string, unknown>;
  try {
    namespace = await import(url) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`${where}: cannot load it: ${firstLine(error)}`);
  }
  const hooks = (typeof namespace.default === 'object' && namespace.default !== null ? namespace.default : namespace) as Record<string, unknown>;
  for (const name of HOOK_NAMES) {
    if (hooks[name] !== undefined && typeof hooks[name] !== 'function') {
      throw new Error(`${where}: "${name}" must be a function, got ${typeof hooks[name]}`);
    }
  }
  if (hooks.message === undefined) throw new Error(`${where}: exports no message(conn, data, isBinary) hook`);
  if (hooks.open === undefined && hooks.tick === undefined) {
    throw new Error(`${where}: sends nothing: export open(conn), tick(conn, n) or both`);
  }
  const interval = hooks.intervalMs;
  if (interval !== undefined && (typeof interval !== 'number' || !(interval > 0))) {
    throw new Error(`${where}: intervalMs must be a positive number of ms, got ${JSON.stringify(interval)}`);
  }
  return hooks as unknown as ScenarioHooks;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.split('\n')[0];
}

class Handle implements ScriptConnection {
  readonly state: Record<string, unknown> = {};
  /** Send time (performance.now() ms) by key, until its reply. */
  readonly pending = new Map<string | number, number>();
  timer: NodeJS.Timeout | undefined;
  ticks = 0;

  constructor(readonly id: string, readonly conn: LoadConnection, readonly driver: CustomScenario) {}

  send(data: string | Uint8Array, key?: string | number): boolean {
    return this.driver.send(this, data, key);
  }

  reply(key: string | number): number | undefined {
    return this.driver.reply(this, key);
  }

  received(): void {
    this.driver.countReceived();
  }

  error(kind: string): void {
    this.driver.countError(kind);
  }

  close(): void {
    this.conn.close();
  }
}

export class CustomScenario implements ScenarioDriver {
  readonly #context: ScenarioContext;
  readonly #handles = new Map<LoadConnection, Handle>();
  readonly #batch = new CorkBatch();
  #hooks: ScenarioHooks | undefined;
  #pacer: RatePacer | undefined;
  #nextPaced = 0;
  #nextId = 0;
  /** Intended send time of the tick being run (paced or scheduled), for keyed sends. */
  #tickAt: number | undefined;
  /** Counted by the hook now running: a message the hook neither replied to nor received is `other`. */
  #counted = false;

  constructor(context: ScenarioContext) {
    this.#context = context;
  }

  async prepare(): Promise<void> {
    this.#hooks = await loadScenarioModule(this.#context.plan.scenarioModule!);
    const { rate } = this.#context.plan;
    if (rate > 0 && this.#hooks.tick !== undefined) {
      this.#pacer = new RatePacer(rate, (at) => this.#tickPaced(at), () => this.#batch.begin(), () => this.#batch.flush());
    }
  }

  opened(conn: LoadConnection): void {
    const hooks = this.#hooks!;
    const handle = new Handle(`${this.#context.plan.shard}.${this.#nextId++}`, conn, this);
    this.#handles.set(conn, handle);
    if (hooks.open !== undefined) this.#call('open', () => hooks.open!(handle));
    if (hooks.tick === undefined) return;
    if (this.#pacer !== undefined) {
      this.#pacer.start(); // the clock starts with the first open connection
      return;
    }
    this.#schedule(handle, performance.now(), hooks.intervalMs ?? DEFAULT_INTERVAL_MS);
  }

  /**
   * Tick n is due at startedAt + (n + 1) · interval, each timer aimed at its own due time: a
   * setInterval drifts by its callbacks' lateness, which would grow the latency of keyed sends
   * (timed from the due time) through the run without the server being any slower.
   */
  #schedule(handle: Handle, startedAt: number, interval: number): void {
    const dueAt = startedAt + (handle.ticks + 1) * interval;
    const fire = (): void => {
      if (this.#context.stopping || !handle.conn.isOpen) return;
      // Node's timers run on a millisecond clock and can fire up to a millisecond before a
      // fractional due time: a tick run early would time its answer from a moment still to come.
      const early = dueAt - performance.now();
      if (early > 0) {
        handle.timer = setTimeout(fire, Math.ceil(early));
        return;
      }
      this.#tick(handle, handle.ticks++, dueAt);
      this.#schedule(handle, startedAt, interval);
    };
    handle.timer = setTimeout(fire, Math.max(0, Math.ceil(dueAt - performance.now())));
  }

  message(conn: LoadConnection, data: Buffer, isBinary: boolean): void {
    const handle = this.#handles.get(conn);
    const stats = this.#context.stats;
    stats.counters.bytesReceived += data.length;
    if (handle === undefined) return;
    this.#counted = false;
    this.#call('message', () => this.#hooks!.message(handle, isBinary ? data : data.toString('utf8'), isBinary));
    if (!this.#counted) stats.counters.other++;
  }

  ended(conn: LoadConnection): boolean {
    const handle = this.#handles.get(conn);
    if (handle !== undefined) {
      clearTimeout(handle.timer);
      this.#handles.delete(conn);
    }
    return false;
  }

  go(): void {}

  stop(): void {
    this.#pacer?.stop();
    for (const handle of this.#handles.values()) clearTimeout(handle.timer);
  }

  drained(sinceStopMs: number): boolean {
    if (sinceStopMs >= REPLY_GRACE_MS) return true;
    for (const handle of this.#handles.values()) if (handle.pending.size > 0 && handle.conn.isOpen) return false;
    return true;
  }

  send(handle: Handle, data: string | Uint8Array, key: string | number | undefined): boolean {
    const conn = handle.conn;
    const isBinary = typeof data !== 'string';
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    if (!conn.send(payload, isBinary)) return false;
    if (key !== undefined) handle.pending.set(key, this.#tickAt ?? performance.now());
    const counters = this.#context.stats.counters;
    counters.sent++;
    counters.bytesSent += payload.length;
    return true;
  }

  reply(handle: Handle, key: string | number): number | undefined {
    const sentAt = handle.pending.get(key);
    this.countReceived();
    if (sentAt === undefined) return undefined;
    handle.pending.delete(key);
    const ms = performance.now() - sentAt;
    this.#context.stats.recordLatency(ms);
    return ms;
  }

  countReceived(): void {
    this.#counted = true;
    this.#context.stats.counters.received++;
  }

  countError(kind: string): void {
    this.#counted = true;
    this.#context.stats.countError(String(kind));
  }

  #tick(handle: Handle, n: number, intendedAt: number): void {
    this.#tickAt = intendedAt;
    this.#call('tick', () => this.#hooks!.tick!(handle, n));
    this.#tickAt = undefined;
  }

  #tickPaced(intendedAt: number): void {
    const open = this.#context.open;
    const conn = open.length === 0 ? undefined : open[this.#nextPaced++ % open.length];
    const handle = conn === undefined ? undefined : this.#handles.get(conn);
    if (handle === undefined || conn!.bufferedAmount > PACED_QUEUE_LIMIT) {
      this.#context.stats.counters.skipped++;
      return;
    }
    this.#batch.add(conn!);
    this.#tick(handle, handle.ticks++, intendedAt);
  }

  /** A hook that throws is counted as `scenario-error <hook>`, its first message kept for the hint. */
  #call(hook: string, run: () => void): void {
    try {
      run();
    } catch (error) {
      const kind = `scenario-error ${hook}`;
      this.#counted = true;
      this.#context.stats.countError(kind);
      this.#context.stats.sampleError(kind, () => firstLine(error));
    }
  }
}
