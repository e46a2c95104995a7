/** What a `wasmsocket load` run is asked to do: the options parsed from its flags (args.ts), and their defaults. */
import type { CodecKind } from '../codec/codec.js';
import type { ClientDeflateOffer } from './deflate.js';
import type { PayloadKind } from './payload.js';
import type { Stage } from './stages.js';
import type { Threshold } from './thresholds.js';

/**
 * A `load` flag mistake: the CLI reports it in one line and exits 2, like the serve flags'
 * UsageError (command.ts converts it), without this module importing the server.
 */
export class UsageError extends Error {}

/** `custom`: a module of the user's, named by path (`--scenario ./chat.mjs`). */
export type Scenario = 'echo' | 'broadcast' | 'connect' | 'reconnect-storm' | 'custom';

/** Report files `--out` writes, by the file name's extension. */
export type OutputFormat = 'csv' | 'html' | 'json';

export interface LoadTarget {
  host: string;
  port: number;
  /** Request target of the GET line: path and query. */
  path: string;
  /** Value of the Host header. */
  hostHeader: string;
  /** The URL as given, for reports. */
  url: string;
  /** wss://: TLS over TCP. */
  secure: boolean;
  /** wss:// with --insecure: accept a certificate that does not verify (self-signed, test). */
  insecure: boolean;
}

export interface LoadOptions {
  target: LoadTarget;
  scenario: Scenario;
  /** echo and connect: connections; broadcast: subscribers (publishers come on top). */
  connections: number;
  /** broadcast: publishing connections. */
  publishers: number;
  /** New connections per second over all threads; 0 opens them as fast as possible. */
  ramp: number;
  size: number;
  binary: boolean;
  /** echo: messages kept in flight per connection; broadcast: publishes ahead of the slowest subscriber (when rate is 0). */
  inFlight: number;
  /** Messages per second over all connections (echo: sends, broadcast: publishes); 0 = in-flight mode. */
  rate: number;
  durationMs: number;
  threads: number;
  /** 0: as many as the open-file limit requires. */
  processes: number;
  sourceIps: string[];
  topic: string;
  codec: CodecKind;
  payload: PayloadKind;
  /** --deflate: offer permessage-deflate (RFC 7692); undefined: offer no extension. */
  deflate: ClientDeflateOffer | undefined;
  /** From TCP connect to the 101 response. */
  handshakeTimeoutMs: number;
  /** From our close frame to the server's TCP close, at the end. */
  closeTimeoutMs: number;
  json: boolean;
  /** --threshold: checked against the summary; one that fails makes the exit code 1. */
  thresholds: Threshold[];
  /** --stages: open connections over time (then `connections` is their peak, `durationMs` their sum). */
  stages: Stage[] | undefined;
  /** --out: report files to write at the end. */
  outputs: Array<{ path: string; format: OutputFormat }>;
  /** --quiet: no progress line. */
  quiet: boolean;
  /** Seconds between progress lines; undefined: every second on a TTY, every 5 s otherwise. */
  progressIntervalS: number | undefined;
  /** `custom`: the scenario module's file URL. */
  scenarioModule: string | undefined;
  /** reconnect-storm: time from one storm's end (or the start) to the next storm. */
  stormIntervalMs: number;
}

export const LOAD_DEFAULTS = {
  scenario: 'echo' as Scenario,
  connections: 100,
  publishers: 1,
  ramp: 1000,
  size: 32,
  inFlight: 1,
  broadcastRate: 100,
  durationS: 10,
  threads: 1,
  topic: 'load',
  codec: 'js' as CodecKind,
  timeoutS: 10,
  closeTimeoutMs: 3000,
  stormIntervalS: 5,
};
