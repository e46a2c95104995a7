/**
 * Parsing and checking of `wasmsocket serve` arguments and WASMSOCKET_* variables, from the
 * table of options (server/options.ts); no side effects, so tests can call it.
 */
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { optionError, specs, type CliFlag, type OptionName, type OptionSpec, type ServerOptions } from './server/options.js';
import { canTransferSockets } from './pool/pool.js';
import { firstLine, joinNegativeValues } from './arg-parsing.js';

export const USAGE = `Usage: wasmsocket serve [options]     a WebSocket server (see wasmsocket serve --help)
       wasmsocket load URL [options]    a load generator (see wasmsocket load --help)
       wasmsocket --version
`;

/**
 * One worker per core: each owns its sockets, and the main thread only accepts, so every core
 * serves connections (measured by bench:workers). Node < 24.22 cannot move a socket to a
 * worker: inline there.
 */
export function defaultWorkers(): number {
  return canTransferSockets() ? availableParallelism() : 0;
}

/** A command-line mistake: reported in one line with the usage hint, exit code 2. */
export class UsageError extends Error {}

export interface ServeCommand {
  options: ServerOptions & { app: string; workers: number };
  /** --cert and --key: PEM files, read at start and again on SIGHUP. */
  certificateFiles?: { cert: string; key: string };
}

/** Flags of `serve` that are no `listen()` option of their own: read here. */
export const CLI_ONLY_FLAGS = {
  cert: { arg: 'FILE', option: 'tls', doc: 'serve wss:// with this PEM certificate chain (and --key); SIGHUP reloads both without a restart' },
  key: { arg: 'FILE', option: 'tls', doc: "the certificate's PEM private key" },
} as const;

/** Where the CLI's default is not the API's: one worker per core rather than inline. */
const CLI_DEFAULTS: Partial<Record<OptionName, { value: () => unknown; text: string }>> = {
  workers: { value: defaultWorkers, text: `one per core, here ${defaultWorkers()}; 0 on Node < 24.22` },
};

/** The environment variable that sets a flag: `max-payload` → `WASMSOCKET_MAX_PAYLOAD`. */
export function environmentVariable(flag: string): string {
  return `WASMSOCKET_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** The table's options that are flags, and the flag each is. */
function flagged(): [OptionName, OptionSpec, CliFlag][] {
  return specs().flatMap(([name, spec]) => (spec.cli === undefined ? [] : [[name, spec, spec.cli] as [OptionName, OptionSpec, CliFlag]]));
}

/** A flag that takes no value (`--deflate`). */
function isSwitch(spec: OptionSpec, cli: CliFlag): boolean {
  return cli.arg === undefined && spec.kind !== 'enum';
}

const USAGE_INDENT = 25;
const USAGE_WIDTH = 94;

/** Words of `text` in lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  return [...lines, line];
}

/** `  --flag ARG             text`, the text wrapped in its column (under the flag when the flag is long). */
function usageEntry(left: string, text: string): string {
  const indent = ' '.repeat(USAGE_INDENT);
  const lines = wrap(text, USAGE_WIDTH - USAGE_INDENT);
  const first = left.length < USAGE_INDENT - 3 ? `  ${left.padEnd(USAGE_INDENT - 2)}${lines[0]}` : `  ${left}\n${indent}${lines[0]}`;
  return [first, ...lines.slice(1).map((line) => indent + line)].join('\n');
}

/** How a flag's default reads in the usage text; undefined when there is none to show. */
function defaultText(name: OptionName, spec: OptionSpec, cli: CliFlag): string | undefined {
  const special = CLI_DEFAULTS[name];
  if (special !== undefined) return special.text;
  const value = spec.default;
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return undefined;
  if (value === false) return 'off';
  if (cli.seconds === true) return String((value as number) / 1000);
  return Array.isArray(value) ? value.join(',') : String(value);
}

export const SERVE_USAGE = [
  'Usage: wasmsocket serve [options]',
  '',
  'Options:',
  ...flagged().map(([name, spec, cli]) => {
    const arg = cli.arg ?? (spec.kind === 'enum' ? spec.values!.join('|') : undefined);
    const shown = defaultText(name, spec, cli);
    return usageEntry(arg === undefined ? `--${cli.flag}` : `--${cli.flag} ${arg}`, shown === undefined ? spec.doc : `${spec.doc} (default ${shown})`);
  }),
  ...Object.entries(CLI_ONLY_FLAGS).map(([flag, { arg, doc }]) => usageEntry(`--${flag} ${arg}`, doc)),
  usageEntry('-h, --help', 'show this help'),
  '',
  'Every flag can be set in the environment too, as WASMSOCKET_ and its name in capitals',
  '(--max-payload: WASMSOCKET_MAX_PAYLOAD; --deflate: WASMSOCKET_DEFLATE=true); a flag wins over its',
  'variable, and an empty variable counts as unset.',
  '',
].join('\n');

function parseInteger(label: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${label} must be a whole number, got "${value}"`);
  const parsed = Number(value);
  if (parsed < min || parsed > max) throw new UsageError(`${label} must be between ${min} and ${max}, got ${value}`);
  return parsed;
}

function parseList(value: string): string[] {
  return value.split(',').map((item) => item.trim()).filter((item) => item.length > 0);
}

/** A switch given in the environment: true/1 or false/0. */
function parseSwitch(label: string, value: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new UsageError(`${label} must be true or false (or 1 or 0), got "${value}"`);
}

/** A flag's text as the option's value, checked by the table's rules; `label` names where it came from. */
function optionValue(spec: OptionSpec, cli: CliFlag, raw: string | boolean, label: string): unknown {
  if (typeof raw === 'boolean') return raw;
  if (isSwitch(spec, cli)) return parseSwitch(label, raw);
  if (spec.kind === 'integer') {
    const scale = cli.seconds === true ? 1000 : 1;
    return parseInteger(label, raw, Math.ceil((spec.min ?? 0) / scale), Math.floor((spec.max ?? Number.MAX_SAFE_INTEGER) / scale)) * scale;
  }
  const value = spec.kind === 'list' ? parseList(raw) : raw;
  const error = optionError(spec, value, label);
  if (error !== undefined) throw new UsageError(error);
  return value;
}

/**
 * `serve`'s arguments, and the WASMSOCKET_* variables of `env` for the flags not given: a flag
 * wins over its variable. A bad value, in either, is a UsageError naming the flag or the variable.
 */
export function parseServeArgs(args: string[], env: NodeJS.ProcessEnv = process.env): ServeCommand {
  const flags = flagged();
  const parseOptions: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [, spec, cli] of flags) parseOptions[cli.flag] = { type: isSwitch(spec, cli) ? 'boolean' : 'string' };
  for (const flag of Object.keys(CLI_ONLY_FLAGS)) parseOptions[flag] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: joinNegativeValues(args), strict: true, allowPositionals: false, options: parseOptions }));
  } catch (error) {
    throw new UsageError(firstLine((error as Error).message));
  }
  if (values.help === true) throw new HelpRequested();
  /** The flag's value and where it came from: the command line, else the environment (empty: unset). */
  const given = (flag: string): { raw: string | boolean; label: string } | undefined => {
    const fromArgs = values[flag];
    if (fromArgs !== undefined) return { raw: fromArgs, label: `--${flag}` };
    const variable = environmentVariable(flag);
    const fromEnv = env[variable];
    return fromEnv === undefined || fromEnv === '' ? undefined : { raw: fromEnv, label: variable };
  };
  const options: Record<string, unknown> = {};
  for (const [name, spec, cli] of flags) {
    const input = given(cli.flag);
    options[name] = input === undefined ? (CLI_DEFAULTS[name]?.value() ?? spec.default) : optionValue(spec, cli, input.raw, input.label);
  }
  const cert = given('cert')?.raw as string | undefined;
  const key = given('key')?.raw as string | undefined;
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--cert and --key go together');
  return {
    certificateFiles: cert === undefined ? undefined : { cert, key: key! },
    options: options as ServeCommand['options'],
  };
}

/** `--help` was given: print the usage and exit 0. */
export class HelpRequested extends Error {}
