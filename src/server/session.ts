/**
 * A live connection as its connection server keeps it: its socket link, how to ask it to
 * close, and the broker's view of it as a subscriber.
 */
import type { AppConnection, Transport } from '../apps/app-connection.js';
import type { Broker, Subscriber } from '../pubsub/broker.js';
import { CloseCode } from '../protocol/close-codes.js';
import type { SocketLink } from './socket-io.js';

export class Session implements Subscriber {
  close: (code: number, reason: string) => void = () => {};
  /** The heartbeat sweep's view, in ms since the epoch: when bytes or a data message last came. */
  heardAt: number;
  messageAt: number;
  /** When the sweep pinged this silent connection; 0 while it is not waiting for an answer. */
  pingedAt = 0;
  conn!: AppConnection;

  constructor(readonly id: number, readonly link: SocketLink, now: number) {
    this.heardAt = now;
    this.messageAt = now;
  }

  get backlog(): number {
    return this.link.backlog;
  }

  deliver(frame: Uint8Array): void {
    this.link.deliver(frame);
  }

  closeAsTooSlow(): void {
    this.close(CloseCode.TRY_AGAIN_LATER, 'subscriber too slow');
  }
}

/** A connection's transport: its socket, and the broker of the thread that owns it. */
export class SessionTransport implements Transport {
  constructor(readonly session: Session, readonly broker: Broker) {}
  get bufferedAmount(): number { return this.session.link.bufferedAmount; }
  write(first: Uint8Array, second?: Uint8Array): void { this.session.link.write(first, second); }
  end(): void { this.session.link.end(); }
  closing(): void { this.session.link.closing(); }
  terminate(): void { this.session.link.terminate(); }
  subscribe(pattern: string): void { this.broker.subscribe(pattern, this.session); }
  unsubscribe(pattern: string): void { this.broker.unsubscribe(pattern, this.session); }
  publish(topic: string, payload: Uint8Array, isBinary: boolean): void { this.broker.publish(topic, payload, isBinary); }
}
