/**
 * A `ws` client of the pubsub app that keeps every JSON message it receives, in order, and
 * answers requests by their `id`: for the tests of offsets, recovery, acks and presence.
 */
import { once } from 'node:events';
import WebSocket from 'ws';
import { MessageWaits } from './message-waits.js';

export type Reply = Record<string, unknown>;

export class StreamClient {
  readonly ws: WebSocket;
  /** Every message received, in order. */
  readonly received: Reply[] = [];
  #nextId = 1;
  readonly #waits = new MessageWaits();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      this.received.push(JSON.parse(String(data)) as Reply);
      this.#waits.wake();
    });
  }

  static async connect(port: number): Promise<StreamClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    await once(ws, 'open');
    return new StreamClient(ws);
  }

  /** Deliveries (`message`) of `topic`, in order. */
  messages(topic?: string): Reply[] {
    return this.received.filter((m) => m.type === 'message' && (topic === undefined || m.topic === topic));
  }

  /** The offsets of the deliveries of `topic`, in order. */
  offsets(topic: string): number[] {
    return this.messages(topic).map((m) => m.offset as number);
  }

  until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    return this.#waits.until(condition, what, timeoutMs);
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Sends `message` with a fresh id and resolves with the reply (or error) carrying that id. */
  async request(message: Reply): Promise<Reply> {
    const id = this.#nextId++;
    this.send({ ...message, id });
    let reply: Reply | undefined;
    await this.until(() => (reply = this.received.find((m) => m.id === id && m.type !== 'message')) !== undefined, `the reply to ${JSON.stringify(message)}`);
    return reply!;
  }

  close(): void {
    this.ws.close();
  }
}
