/**
 * Admission, on the main thread where every connection of the node is counted: a TCP connection
 * past `maxConnections` is answered 503, one past `maxConnectionsPerIp` from the same address
 * 429. Counted from accept to close, whichever thread serves the socket.
 */

import type { ResolvedOptions } from './options.js';

/** Open connections of the node, and from one remote address (0: no limit). */
export type AdmissionLimits = Pick<ResolvedOptions, 'maxConnections' | 'maxConnectionsPerIp'>;

export interface Refusal {
  status: 429 | 503;
  reason: string;
}

export interface AdmissionStats {
  open: number;
  /** Connections admitted since start. */
  accepted: number;
  /** Connections refused for each limit since start. */
  refusedMaxConnections: number;
  refusedPerIp: number;
}

export class Admission {
  readonly stats: AdmissionStats = { open: 0, accepted: 0, refusedMaxConnections: 0, refusedPerIp: 0 };
  readonly #limits: AdmissionLimits;
  readonly #perIp = new Map<string, number>();
  /** Connection id → its remote address, for release(). */
  readonly #addresses = new Map<number, string>();

  constructor(limits: AdmissionLimits) {
    this.#limits = limits;
  }

  /** Counts connection `id` from `address` in, or says why it is refused (then it is not counted). */
  admit(id: number, address: string): Refusal | undefined {
    const { maxConnections, maxConnectionsPerIp } = this.#limits;
    if (maxConnections > 0 && this.stats.open >= maxConnections) {
      this.stats.refusedMaxConnections++;
      return { status: 503, reason: `the server is at its limit of ${maxConnections} connections; try again later` };
    }
    const fromAddress = this.#perIp.get(address) ?? 0;
    if (maxConnectionsPerIp > 0 && fromAddress >= maxConnectionsPerIp) {
      this.stats.refusedPerIp++;
      return { status: 429, reason: `at most ${maxConnectionsPerIp} connections per address` };
    }
    this.stats.open++;
    this.stats.accepted++;
    this.#perIp.set(address, fromAddress + 1);
    this.#addresses.set(id, address);
    return undefined;
  }

  /** Connection `id` is closed (a second release of the same id changes nothing). */
  release(id: number): void {
    const address = this.#addresses.get(id);
    if (address === undefined) return;
    this.#addresses.delete(id);
    this.stats.open--;
    const remaining = (this.#perIp.get(address) ?? 1) - 1;
    if (remaining === 0) this.#perIp.delete(address);
    else this.#perIp.set(address, remaining);
  }
}
