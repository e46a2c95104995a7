/**
 * connect: open the connections and hold them. The shard already records handshake latency,
 * the open rate and how many stay open; this scenario only counts what the server sends.
 */
import type { LoadConnection } from '../connection.js';
import type { ScenarioContext, ScenarioDriver } from './scenario.js';

export class ConnectScenario implements ScenarioDriver {
  readonly #context: ScenarioContext;

  constructor(context: ScenarioContext) {
    this.#context = context;
  }

  opened(_conn: LoadConnection): void {}

  message(_conn: LoadConnection, data: Buffer): void {
    this.#context.stats.counters.other++;
    this.#context.stats.counters.bytesReceived += data.length;
  }

  go(): void {}

  stop(): void {}

  drained(): boolean {
    return true;
  }
}
