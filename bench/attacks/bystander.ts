/**
 * The bystander: an ordinary client doing round trips one after the other for the whole attack,
 * its latencies in an HDR histogram (µs). With the echo app a round trip is a 20 B echo; with the
 * pub/sub app it is a publish to its own topic and the delivery back (the same broker the attack
 * floods). A round trip that does not come back within a few seconds counts as a timeout, and the
 * client reconnects, so a stalled or dead server shows up as latency and timeouts, not silence.
 */
import hdr from 'hdr-histogram-js';
import { WebSocket } from 'ws';

const STALL_MS = 5000;
export const BYSTANDER_TOPIC = 'bystander.ping';

export interface BystanderReport {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  timeouts: number;
  /** Connection failures and server error replies, by kind. */
  errors: Record<string, number>;
}

export class Bystander {
  readonly #histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  readonly #errors = new Map<string, number>();
  #timeouts = 0;
  #stopped = false;
  #socket: WebSocket | undefined;
  #finished: Promise<void> | undefined;

  constructor(readonly url: string, readonly app: 'echo' | 'pubsub') {}

  start(): void {
    this.#finished = this.#loop();
  }

  async stop(): Promise<BystanderReport> {
    this.#stopped = true;
    this.#socket?.terminate();
    await this.#finished;
    const h = this.#histogram;
    const ms = (micros: number) => micros / 1000;
    return {
      count: h.totalCount,
      p50Ms: ms(h.getValueAtPercentile(50)),
      p99Ms: ms(h.getValueAtPercentile(99)),
      maxMs: ms(h.maxValue),
      timeouts: this.#timeouts,
      errors: Object.fromEntries(this.#errors),
    };
  }

  #count(kind: string): void {
    this.#errors.set(kind, (this.#errors.get(kind) ?? 0) + 1);
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      const socket = await this.#connect();
      if (socket === undefined) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        continue;
      }
      this.#socket = socket;
      while (!this.#stopped && socket.readyState === WebSocket.OPEN) {
        const outcome = await this.#roundTrip(socket);
        if (outcome === 'timeout') {
          this.#timeouts++;
          socket.terminate();
        }
      }
    }
  }

  async #connect(): Promise<WebSocket | undefined> {
    const socket = new WebSocket(this.url, { perMessageDeflate: false, handshakeTimeout: STALL_MS });
    socket.on('message', (data) => {
      const text = String(data);
      if (text.includes('"type":"error"')) this.#count(/"code":"([^"]+)"/.exec(text)?.[1] ?? 'error-reply');
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
    } catch (error) {
      this.#count(`connect ${(error as NodeJS.ErrnoException).code ?? (error as Error).message.slice(0, 40)}`);
      return undefined;
    }
    socket.on('error', (error: NodeJS.ErrnoException) => this.#count(error.code ?? 'socket-error'));
    if (this.app === 'pubsub') {
      socket.send(JSON.stringify({ type: 'subscribe', topic: BYSTANDER_TOPIC }));
      const subscribed = await this.#next(socket, (text) => text.includes('"subscribed"') || text.includes('"type":"error"'));
      if (subscribed === 'timeout' || !subscribed.includes('"subscribed"')) {
        socket.terminate();
        if (subscribed === 'timeout') this.#timeouts++;
        await new Promise((resolve) => setTimeout(resolve, 200));
        return undefined;
      }
    }
    return socket;
  }

  async #roundTrip(socket: WebSocket): Promise<'ok' | 'timeout' | 'closed'> {
    const stamp = `${process.hrtime.bigint()}`;
    const started = performance.now();
    if (this.app === 'echo') socket.send(stamp.padEnd(20, '.'));
    else socket.send(JSON.stringify({ type: 'publish', topic: BYSTANDER_TOPIC, data: stamp }));
    const reply = await this.#next(socket, (text) => text.includes(stamp));
    if (reply === 'timeout') return socket.readyState === WebSocket.OPEN ? 'timeout' : 'closed';
    this.#histogram.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)));
    return 'ok';
  }

  /** The next message that `matches`, or 'timeout' after STALL_MS (or when the socket closes). */
  #next(socket: WebSocket, matches: (text: string) => boolean): Promise<string> {
    return new Promise((resolve) => {
      const done = (value: string) => {
        clearTimeout(timer);
        socket.off('message', onMessage);
        socket.off('close', onClose);
        resolve(value);
      };
      const onMessage = (data: unknown) => {
        const text = String(data);
        if (matches(text)) done(text);
      };
      const onClose = () => done('timeout');
      const timer = setTimeout(() => done('timeout'), STALL_MS);
      socket.on('message', onMessage);
      socket.once('close', onClose);
    });
  }
}
