/** What a benchmark suite is given (its configuration and targets) and what it gives back (rows of cells), read by the suite and by its renderers. */
import type { Placement } from './measure.js';
import type { Metric, Scenario } from './scenarios.js';
import type { ServerSpec } from './servers.js';

export interface Target {
  label: string;
  metric: string;
  server: string;
  versus: string;
  /** Pass when median(server) / median(versus) ≥ atLeast (or ≤ atMost). */
  atLeast?: number;
  atMost?: number;
  /** Compare the medians (default) or the rates per server CPU-second (when the client is the limit). */
  basis?: 'median' | 'perCpu';
}

export interface SuiteConfig {
  name: string;
  title: string;
  /** Lines for the header: how the run was made, what is fair about it, caveats. */
  method: string[];
  placement: Placement;
  servers: ServerSpec[];
  scenarios: Scenario[];
  baseline: string;
  /** The server every row is also compared with (uWebSockets.js), if any. */
  reference?: string;
  repetitions: number;
  targets: Target[];
  /** Pairs of servers whose ratio the report shows for every row (the codecs, end to end). */
  comparisons?: { label: string; server: string; versus: string }[];
  /** A raw JSON file of an earlier run: its samples are reported again, nothing is measured. */
  fromRaw?: string;
}

/** One metric of one server over all repetitions. */
export interface Cell {
  values: number[];
  errors: string[];
  median: number;
  serverCpu: number;
  loadCpu: number;
  /** Median CPU of the generator's busiest thread, % of one core. */
  loadBusiest: number;
  /** The busiest generator thread was over CLIENT_BOUND_PERCENT: the row measured the client. */
  clientBound: boolean;
  /** Median % of the window the server's threads waited for a CPU that other work held. */
  serverWait: number;
  /** Median value per server CPU-second (rates only). */
  perCpuSecond: number;
  notes: string[];
  /** The scenario names its servers and this is not one of them: no value, and no error. */
  notRun?: boolean;
}

export interface Row {
  scenario: Scenario;
  metric: Metric;
  cells: Map<string, Cell>;
}

export interface TargetResult extends Target {
  ratio: number;
  met: boolean | undefined;
}

export interface SuiteOutcome {
  config: SuiteConfig;
  rows: Row[];
  targets: TargetResult[];
  environment: Record<string, string>;
  startedAt: Date;
  finishedAt: Date;
}
