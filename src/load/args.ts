/** Parsing and checking of `wasmsocket load` arguments; no side effects, so tests can call it. */
import { existsSync } from 'node:fs';
import { isIPv4, isIP } from 'node:net';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { CodecKind } from '../codec/codec.js';
import { firstLine, joinNegativeValues, unknownOptionMessage } from '../arg-parsing.js';
import type { ClientDeflateOffer } from './deflate.js';
import { ECHO_MIN_SIZE, type PayloadKind } from './payload.js';
import { MAX_PUBLISHERS, PUBLISH_MIN_SIZE } from './pubsub-format.js';
import { parseStages, peakTarget, stagesDurationMs, type Stage } from './stages.js';
import { parseThreshold, type Threshold } from './thresholds.js';

/** Closed-loop broadcast counts each publisher's sequences in a ring of 4 × --in-flight per shard (publish-window.ts). */
const MAX_BROADCAST_WINDOW = 4_000_000;

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

export const LOAD_USAGE = `Usage: wasmsocket load ws[s]://HOST:PORT/PATH [options]

Opens many WebSocket connections to any RFC 6455 server and measures it.

Options:
  --scenario echo|broadcast|connect|reconnect-storm|./FILE.mjs
                         echo: round trips; broadcast: pub/sub deliveries; connect: open and hold;
                         reconnect-storm: drop every connection at once and reopen them all;
                         ./FILE.mjs: your own protocol, a module with hooks (default ${LOAD_DEFAULTS.scenario}, or
                         broadcast when one probe connection finds wasmsocket's pub/sub app)
  --connections N        connections (broadcast: subscribers) (default ${LOAD_DEFAULTS.connections})
  --publishers N         broadcast: publishing connections, on top of the subscribers (default ${LOAD_DEFAULTS.publishers})
  --ramp PER_SECOND      new connections per second, 0 = all at once (default ${LOAD_DEFAULTS.ramp})
  --size BYTES           message size (echo ≥ ${ECHO_MIN_SIZE}, broadcast data ≥ ${PUBLISH_MIN_SIZE}) (default ${LOAD_DEFAULTS.size})
  --binary               send binary messages (default: ASCII text)
  --payload ascii|json   text after the stamp: 'a' padding, or generated JSON-like text that
                         compresses like real data (default ascii)
  --deflate              offer permessage-deflate (RFC 7692): compress what is sent from 1 KiB,
                         inflate what comes compressed; the summary says where it was agreed
  --deflate-no-context-takeover
                         with --deflate: ask both sides to reset their compressor per message
  --in-flight K          echo: messages in flight per connection (default ${LOAD_DEFAULTS.inFlight});
                         broadcast: closed loop, each publisher at most K publishes ahead of the
                         slowest subscriber (the most the server delivers)
  --rate MSGS_PER_S      fixed total send rate instead (open loop; broadcast: publishes/s,
                         default ${LOAD_DEFAULTS.broadcastRate} without --in-flight)
  --duration S           seconds to run, then close with 1000 (default ${LOAD_DEFAULTS.durationS})
  --stages D:N,D:N,...   open connections over time instead of --connections/--duration/--ramp,
                         each stage a linear ramp to N over D (e.g. 30s:1000,60s:1000,10s:0)
  --storm-interval S     reconnect-storm: seconds between storms (default ${LOAD_DEFAULTS.stormIntervalS})
  --threshold 'EXPR'     pass/fail, repeatable: METRIC OP NUMBER, METRIC one of p50 p90 p99 p99_9 max
                         (latency ms), rate (received/s), errors, lost; OP < <= > >= ==; exit 1 if one fails
  --out FILE.csv|FILE.html|FILE.json
                         write the per-second series (csv), a report with charts (html, one
                         self-contained file) or the JSON summary (json); repeatable
  --quiet                no progress line
  --progress-interval S  seconds between progress lines (default 1 on a terminal, 5 otherwise)
  --threads T            worker threads in all (default ${LOAD_DEFAULTS.threads}: the main thread)
  --processes P          processes (default: as many as the open-file limit requires)
  --source-ips A-B|A,B   local addresses to bind, round-robin (e.g. 127.0.0.1-127.0.0.20)
  --topic T              broadcast topic (default ${LOAD_DEFAULTS.topic})
  --codec js|wasm        client framing codec (default ${LOAD_DEFAULTS.codec})
  --timeout S            handshake timeout, TCP connect to 101 (default ${LOAD_DEFAULTS.timeoutS})
  --insecure             wss://: accept a certificate that does not verify (self-signed)
  --json                 print one JSON object at the end (no progress line unless --progress-interval)
  -h, --help             show this help
`;

/** `wasmsocket load --help`: print LOAD_USAGE and exit 0. */
export class LoadHelpRequested extends Error {}

function parseNumber(name: string, value: string | undefined, fallback: number, min: number, max: number, integer = true): number {
  if (value === undefined) return fallback;
  const pattern = integer ? /^\d+$/ : /^\d+(\.\d+)?$/;
  if (!pattern.test(value)) throw new UsageError(`--${name} must be a ${integer ? 'whole ' : ''}number, got "${value}"`);
  const parsed = Number(value);
  if (parsed < min || parsed > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${value}`);
  return parsed;
}

export function parseTarget(text: string): LoadTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`"${text}" is not a URL (expected ws://HOST:PORT/)`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new UsageError(`the URL must start with ws:// or wss://, got "${text}"`);
  const secure = url.protocol === 'wss:';
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  return { host, port, path: `${url.pathname}${url.search}`, hostHeader: url.host, url: url.href, secure, insecure: false };
}

/** "127.0.0.1-127.0.0.20" (an IPv4 range) or "a,b,c" (a list) → addresses. */
export function parseSourceIps(text: string): string[] {
  const range = /^([\d.]+)-([\d.]+)$/.exec(text.trim());
  if (range !== null) {
    const [, first, last] = range;
    if (!isIPv4(first) || !isIPv4(last)) throw new UsageError(`--source-ips: "${text}" is not an IPv4 range`);
    const from = ipv4ToNumber(first), to = ipv4ToNumber(last);
    if (to < from) throw new UsageError(`--source-ips: the range "${text}" is empty`);
    if (to - from >= 4096) throw new UsageError(`--source-ips: at most 4096 addresses, "${text}" has ${to - from + 1}`);
    const addresses: string[] = [];
    for (let n = from; n <= to; n++) addresses.push(numberToIpv4(n));
    return addresses;
  }
  const list = text.split(',').map((item) => item.trim()).filter((item) => item.length > 0);
  if (list.length === 0) throw new UsageError('--source-ips: no address given');
  for (const address of list) {
    if (isIP(address) === 0) throw new UsageError(`--source-ips: "${address}" is not an IP address`);
  }
  return list;
}

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
}

function numberToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Every `load` flag, for parseArgs and for the nearest-name hint on a typo. */
const LOAD_FLAGS = {
  scenario: { type: 'string' },
  connections: { type: 'string' },
  publishers: { type: 'string' },
  ramp: { type: 'string' },
  size: { type: 'string' },
  binary: { type: 'boolean' },
  payload: { type: 'string' },
  deflate: { type: 'boolean' },
  'deflate-no-context-takeover': { type: 'boolean' },
  'in-flight': { type: 'string' },
  rate: { type: 'string' },
  duration: { type: 'string' },
  threads: { type: 'string' },
  processes: { type: 'string' },
  'source-ips': { type: 'string' },
  topic: { type: 'string' },
  codec: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  insecure: { type: 'boolean' },
  threshold: { type: 'string', multiple: true },
  stages: { type: 'string' },
  out: { type: 'string', multiple: true },
  quiet: { type: 'boolean' },
  'progress-interval': { type: 'string' },
  'storm-interval': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export function parseLoadArgs(args: string[]): LoadOptions {
  let values, positionals;
  try {
    ({ values, positionals } = parseArgs({ args: joinNegativeValues(args), strict: true, allowPositionals: true, options: LOAD_FLAGS }));
  } catch (error) {
    const unknown = unknownOptionMessage(error as Error, Object.keys(LOAD_FLAGS));
    throw new UsageError(unknown ?? firstLine((error as Error).message));
  }
  if (values.help) throw new LoadHelpRequested();
  if (positionals.length === 0) throw new UsageError('load needs the server URL, e.g. ws://127.0.0.1:8080/');
  if (positionals.length > 1) throw new UsageError(`load takes one URL, got ${positionals.length}: ${positionals.join(' ')}`);
  const target = parseTarget(positionals[0]);
  if (values.insecure === true) {
    if (!target.secure) throw new UsageError('--insecure applies to wss:// URLs');
    target.insecure = true;
  }

  const scenarioName = values.scenario ?? LOAD_DEFAULTS.scenario;
  const scenarioModule = scenarioModuleUrl(scenarioName);
  const scenario: Scenario = scenarioModule !== undefined ? 'custom' : scenarioName as Scenario;
  if (!['echo', 'broadcast', 'connect', 'reconnect-storm', 'custom'].includes(scenario)) {
    throw new UsageError(`--scenario must be "echo", "broadcast", "connect", "reconnect-storm" or a module path (./FILE.mjs), got "${scenarioName}"`);
  }
  const codec = values.codec ?? LOAD_DEFAULTS.codec;
  if (codec !== 'wasm' && codec !== 'js') throw new UsageError(`--codec must be "js" or "wasm", got "${codec}"`);
  if (values['in-flight'] !== undefined && values.rate !== undefined) {
    throw new UsageError('--in-flight and --rate exclude each other: keep K messages in flight, or send at a fixed rate');
  }

  const size = parseNumber('size', values.size, LOAD_DEFAULTS.size, 0, 64 * 1024 * 1024);
  const minSize = scenario === 'broadcast' ? PUBLISH_MIN_SIZE : scenario === 'echo' ? ECHO_MIN_SIZE : 0;
  if (size < minSize) {
    throw new UsageError(`--size must be at least ${minSize} for ${scenario}: the payload carries a sequence number and a send time`);
  }
  const payload = values.payload ?? 'ascii';
  if (payload !== 'ascii' && payload !== 'json') throw new UsageError(`--payload must be "ascii" or "json", got "${payload}"`);
  if (payload === 'json' && values.binary === true) throw new UsageError('--payload json is text: it excludes --binary');
  if (values['deflate-no-context-takeover'] === true && values.deflate !== true) {
    throw new UsageError('--deflate-no-context-takeover applies with --deflate');
  }
  // broadcast publishes at a fixed rate unless --in-flight asks for the closed loop.
  const defaultRate = scenario === 'broadcast' && values['in-flight'] === undefined ? LOAD_DEFAULTS.broadcastRate : 0;
  const topic = values.topic ?? LOAD_DEFAULTS.topic;
  if (topic.length === 0) throw new UsageError('--topic must not be empty');
  const stages = values.stages === undefined ? undefined : parseWith(parseStages, values.stages);
  if (stages !== undefined) {
    for (const excluded of ['connections', 'duration', 'ramp'] as const) {
      if (values[excluded] !== undefined) throw new UsageError(`--stages and --${excluded} exclude each other: the stages say how many connections, for how long`);
    }
    if (scenario === 'broadcast' || scenario === 'reconnect-storm') throw new UsageError(`--stages applies to echo, connect and module scenarios, not ${scenario}`);
    if (peakTarget(stages) === 0) throw new UsageError('--stages: no stage asks for a connection');
  }
  if (values['storm-interval'] !== undefined && scenario !== 'reconnect-storm') throw new UsageError('--storm-interval applies to --scenario reconnect-storm');

  const publishers = parseNumber('publishers', values.publishers, LOAD_DEFAULTS.publishers, 1, MAX_PUBLISHERS);
  const inFlight = parseNumber('in-flight', values['in-flight'], LOAD_DEFAULTS.inFlight, 1, 100_000);
  if (scenario === 'broadcast' && values['in-flight'] !== undefined && publishers * inFlight > MAX_BROADCAST_WINDOW) {
    throw new UsageError(`--publishers × --in-flight must be at most ${MAX_BROADCAST_WINDOW} for broadcast, got ${publishers * inFlight}`);
  }

  return {
    target,
    scenario,
    connections: stages !== undefined ? peakTarget(stages) : parseNumber('connections', values.connections, LOAD_DEFAULTS.connections, 1, 1_000_000),
    publishers,
    ramp: parseNumber('ramp', values.ramp, LOAD_DEFAULTS.ramp, 0, 10_000_000),
    size,
    binary: values.binary ?? false,
    inFlight,
    rate: parseNumber('rate', values.rate, defaultRate, 1, 100_000_000, false),
    durationMs: stages !== undefined ? stagesDurationMs(stages)
      : Math.round(parseNumber('duration', values.duration, LOAD_DEFAULTS.durationS, 0.1, 7 * 24 * 3600, false) * 1000),
    threads: parseNumber('threads', values.threads, LOAD_DEFAULTS.threads, 1, 256),
    processes: parseNumber('processes', values.processes, 0, 1, 256),
    sourceIps: values['source-ips'] === undefined ? [] : parseSourceIps(values['source-ips']),
    topic,
    codec: codec as CodecKind,
    payload,
    deflate: values.deflate === true ? { noContextTakeover: values['deflate-no-context-takeover'] === true } : undefined,
    handshakeTimeoutMs: Math.round(parseNumber('timeout', values.timeout, LOAD_DEFAULTS.timeoutS, 0.1, 3600, false) * 1000),
    closeTimeoutMs: LOAD_DEFAULTS.closeTimeoutMs,
    json: values.json ?? false,
    thresholds: (values.threshold ?? []).map((text) => parseWith(parseThreshold, text)),
    stages,
    outputs: (values.out ?? []).map(parseOutput),
    quiet: values.quiet ?? false,
    progressIntervalS: values['progress-interval'] === undefined ? undefined
      : parseNumber('progress-interval', values['progress-interval'], 5, 0.1, 3600, false),
    scenarioModule,
    stormIntervalMs: Math.round(parseNumber('storm-interval', values['storm-interval'], LOAD_DEFAULTS.stormIntervalS, 0.1, 3600, false) * 1000),
  };
}

/** Runs a parser of a flag's value whose errors are plain Errors, as a UsageError. */
function parseWith<T>(parse: (text: string) => T, text: string): T {
  try {
    return parse(text);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** A --scenario value that is a path (has a slash or a .js/.mjs name) → its file URL; else undefined. */
function scenarioModuleUrl(value: string): string | undefined {
  if (!value.includes('/') && !value.includes('\\') && !/\.m?js$/.test(value)) return undefined;
  const path = resolve(value);
  if (!existsSync(path)) throw new UsageError(`--scenario ${value}: no such file (${path})`);
  return pathToFileURL(path).href;
}

function parseOutput(path: string): { path: string; format: OutputFormat } {
  const format = extname(path).slice(1).toLowerCase();
  if (format !== 'csv' && format !== 'html' && format !== 'json') {
    throw new UsageError(`--out ${path}: the name must end in .csv, .html or .json (that says what to write)`);
  }
  return { path, format };
}
