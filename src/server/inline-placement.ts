/** `workers: 0`: every connection is served by one ConnectionServer on the calling thread. */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { createCodec } from '../codec/select.js';
import type { Application } from '../apps/app.js';
import type { Backplane } from '../pubsub/broker.js';
import type { NodeHistory } from '../pubsub/relay.js';
import type { HistoryQuery, HistoryReply, StreamPosition } from '../pubsub/history.js';
import { ConnectionServer, type ConnectionSettings, type NodeServices } from './connection-server.js';
import type { TlsCertificate } from './certificate.js';
import type { Placement, PlacementStats } from './placement.js';

export class InlinePlacement implements Placement {
  readonly started = Promise.resolve();
  readonly loads: number[] = [];
  readonly #server: ConnectionServer;

  constructor(settings: ConnectionSettings, app: Application, services: NodeServices, backplane: Backplane | undefined, history: NodeHistory | undefined) {
    this.#server = new ConnectionServer(settings, app, createCodec(settings.codec), services, backplane);
    if (history !== undefined) {
      this.#server.broker.attachHistory({
        sequence: (topic, message, done) => history.sequence(topic, message, done),
        read: (topic, query, done) => history.read(topic, query, done),
        presence: (topic, local, done) => {
          void (history.otherNodes?.(topic) ?? Promise.resolve(0)).then((others) => done(local + others), () => done(local));
        },
      });
    }
  }

  adopt(socket: Socket, id: number): boolean {
    this.#server.adopt(socket, id);
    return true;
  }

  handleUpgrade(request: IncomingMessage, socket: Socket, head: Buffer, id: number): void {
    this.#server.handleUpgrade(request, socket, head, id);
  }

  publish(topic: string, payload: Uint8Array, isBinary: boolean): void {
    this.#server.broker.publish(topic, payload, isBinary);
  }

  fromBackplane(topic: string, payload: Uint8Array, isBinary: boolean, offset?: number): void {
    this.#server.broker.publishFromBackplane(topic, payload, isBinary, offset);
  }

  publishMessage(topic: string, message: Uint8Array): Promise<StreamPosition | undefined> {
    return new Promise((resolve) => this.#server.broker.publish(topic, message, false, { history: true, onPublished: resolve }));
  }

  history(topic: string, query: HistoryQuery): Promise<HistoryReply | undefined> {
    return new Promise((resolve) => this.#server.broker.history(topic, query, resolve));
  }

  async presence(topic: string, otherNodes: boolean): Promise<number> {
    if (!otherNodes) return this.#server.broker.exactSubscribers(topic);
    return new Promise((resolve) => this.#server.broker.presence(topic, resolve));
  }

  setCertificate(certificate: TlsCertificate): void {
    this.#server.setCertificate(certificate);
  }

  async stats(): Promise<PlacementStats> {
    return { local: this.#server.stats(), workers: [] };
  }

  close(code: number, reason: string, timeoutMs: number): Promise<void> {
    return this.#server.close(code, reason, timeoutMs);
  }
}
