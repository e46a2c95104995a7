/** Parsing and checking of `wasmsocket load` arguments; no side effects, so tests can call it. */
import { existsSync } from 'node:fs';
import { isIPv4, isIP } from 'node:net';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { CodecKind } from '../codec/codec.js';
import { firstLine, joinNegativeValues, unknownOptionMessage } from '../arg-parsing.js';
import { LOAD_DEFAULTS, UsageError, type LoadOptions, type LoadTarget, type OutputFormat, type Scenario } from './options.js';
import { ECHO_MIN_SIZE } from './payload.js';
import { MAX_PUBLISHERS, PUBLISH_MIN_SIZE } from './pubsub-format.js';
import { parseStages, peakTarget, stagesDurationMs } from './stages.js';
import { parseThreshold } from './thresholds.js';

export { LOAD_DEFAULTS, UsageError, type LoadOptions, type LoadTarget, type OutputFormat, type Scenario } from './options.js';
export { LOAD_USAGE } from './usage.js';

/** Closed-loop broadcast counts each publisher's sequences in a ring of 4 × --in-flight per shard (publish-window.ts). */
const MAX_BROADCAST_WINDOW = 4_000_000;

/** `wasmsocket load --help`: print the usage text (usage.ts) and exit 0. */
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
