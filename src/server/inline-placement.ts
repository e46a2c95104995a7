/** `workers: 0`: every connection is served by one ConnectionServer on the calling thread. */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { createCodec } from '../codec/select.js';
import type { Application } from '../apps/app.js';
import type { Backplane } from '../pubsub/broker.js';
import { ConnectionServer, type ConnectionSettings, type NodeServices } from './connection-server.js';
import type { TlsCertificate } from './certificate.js';
import type { Placement, PlacementStats } from './placement.js';

export class InlinePlacement implements Placement {
  readonly started = Promise.resolve();
  readonly loads: number[] = [];
  readonly #server: ConnectionServer;

  constructor(settings: ConnectionSettings, app: Application, services: NodeServices, backplane: Backplane | undefined) {
    this.#server = new ConnectionServer(settings, app, createCodec(settings.codec), services, backplane);
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

  fromBackplane(topic: string, payload: Uint8Array, isBinary: boolean): void {
    this.#server.broker.publishFromBackplane(topic, payload, isBinary);
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
