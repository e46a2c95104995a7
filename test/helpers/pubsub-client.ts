/** A `ws` client speaking the pubsub app's JSON protocol, with awaitable replies. */
import { once } from 'node:events';
import WebSocket from 'ws';
import { MessageWaits } from './message-waits.js';

export interface Delivery { topic: string; data: unknown }

export class PubsubClient {
  readonly ws: WebSocket;
  readonly deliveries: Delivery[] = [];
  readonly replies: Array<Record<string, unknown>> = [];
  readonly binary: Buffer[] = [];
  readonly #waits = new MessageWaits();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        this.binary.push(data as Buffer);
      } else {
        const message = JSON.parse(String(data)) as Record<string, unknown>;
        if (message.type === 'message') this.deliveries.push({ topic: message.topic as string, data: message.data });
        else this.replies.push(message);
      }
      this.#waits.wake();
    });
  }

  /** `localAddress`: the loopback address to connect from (127.0.0.2 is another client address). */
  static async connect(port: number, path = '/', localAddress?: string): Promise<PubsubClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, localAddress === undefined ? undefined : { localAddress });
    await once(ws, 'open');
    return new PubsubClient(ws);
  }

  /** Resolves once `condition` holds, re-checked after every message; rejects after `timeoutMs`. */
  until(condition: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    return this.#waits.until(condition, what, timeoutMs);
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Sends a request and waits for the next non-delivery reply. */
  async request(message: unknown): Promise<Record<string, unknown>> {
    const before = this.replies.length;
    this.send(message);
    await this.until(() => this.replies.length > before, 10_000, `a reply to ${JSON.stringify(message)}`);
    return this.replies[before];
  }

  async subscribe(topic: string): Promise<void> {
    const reply = await this.request({ type: 'subscribe', topic });
    if (reply.type !== 'subscribed') throw new Error(`subscribe ${topic} failed: ${JSON.stringify(reply)}`);
  }

  publish(topic: string, data: unknown): void {
    this.send({ type: 'publish', topic, data });
  }

  close(): void {
    this.ws.close();
  }
}
