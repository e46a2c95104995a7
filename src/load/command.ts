/**
 * `wasmsocket load`: parses the flags, runs the load, prints progress (on a TTY in place, else a
 * line every 5 s) and the summary or one JSON object, writes the --out reports, and returns the
 * exit code: 0, or 1 when nothing succeeded or a threshold failed. Flag mistakes throw
 * UsageError (exit 2, reported by the CLI).
 */
import { UsageError as CliUsageError } from '../cli-args.js';
import { LoadHelpRequested, parseLoadArgs } from './args.js';
import { UsageError, type LoadOptions } from './options.js';
import { LOAD_USAGE } from './usage.js';
import { probeServer } from './probe.js';
import { writeReports } from './report-files.js';
import { headerLine, progressLine, summaryTable } from './report.js';
import { declinedDeflate, runLoad, type Progress } from './run.js';
import { failedThresholdLines } from './thresholds.js';

/** Seconds between progress lines when stderr is not a terminal (a CI log). */
const LOG_PROGRESS_INTERVAL_S = 5;
/** The longest the probe for the default scenario waits for its answer. */
const PROBE_TIMEOUT_MS = 3000;

export async function runLoadCommand(args: string[]): Promise<number> {
  let options;
  try {
    options = parseLoadArgs(args);
  } catch (error) {
    if (error instanceof UsageError) throw new CliUsageError(error.message);
    if (!(error instanceof LoadHelpRequested)) throw error;
    process.stdout.write(LOAD_USAGE);
    return 0;
  }
  const stderr = process.stderr;
  options = await followServer(args, options);
  if (!options.json) process.stdout.write(`${headerLine(options)}\n`);
  const progress = progressWriter(options);

  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let result;
  try {
    result = await runLoad(options, {
      signal: abort.signal,
      onWarning: options.json ? undefined : (warning) => stderr.write(`wasmsocket load: warning: ${warning}\n`),
      onProgress: progress?.write,
      progressIntervalS: progress?.intervalS,
    });
  } catch (error) {
    // A scenario module that cannot be used is a flag mistake: one line, exit 2.
    if (error instanceof UsageError) throw new CliUsageError(error.message);
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  progress?.clear();

  // Asked for and not given: said on stderr in one line too, so a script sees it beside --json.
  if (result.deflate.declined > 0) stderr.write(`wasmsocket load: ${declinedDeflate(result.deflate.declined, result.connect.opened)}\n`);
  const failed = failedThresholdLines(result.thresholds);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    for (const line of [...result.hints.map((hint) => `hint: ${hint}`), ...failed]) stderr.write(`wasmsocket load: ${line}\n`);
  } else {
    process.stdout.write(summaryTable(result));
    for (const line of failed) process.stdout.write(`${line}\n`);
  }
  try {
    for (const written of await writeReports(options, result)) {
      if (!options.json) stderr.write(`wasmsocket load: wrote ${written}\n`);
    }
  } catch (error) {
    stderr.write(`wasmsocket load: --out: ${(error as Error).message}\n`);
    return 1;
  }
  return result.ok && failed.length === 0 ? 0 : 1;
}

/**
 * Without --scenario, the default (echo) follows the server: one probe connection, and if the
 * server answers as wasmsocket's pub/sub app (what `npm start` serves), the run is broadcast, said
 * on stderr. Any other answer, or none, keeps echo (a server that is neither gets the hint at the end).
 */
async function followServer(args: readonly string[], options: LoadOptions): Promise<LoadOptions> {
  if (args.some((arg) => arg === '--scenario' || arg.startsWith('--scenario='))) return options;
  const kind = await probeServer(options.target, Math.min(options.handshakeTimeoutMs, PROBE_TIMEOUT_MS), options.sourceIps[0]);
  if (kind !== 'pubsub') return options;
  let broadcast;
  try {
    broadcast = parseLoadArgs([...args, '--scenario', 'broadcast']);
  } catch (error) {
    // A flag that fits echo only (--in-flight, a --size too small to publish): echo it is, and the hint explains.
    if (error instanceof UsageError) return options;
    throw error;
  }
  process.stderr.write('wasmsocket load: the server answers as a pub/sub server (wasmsocket serve\'s pubsub app): ' +
    'running --scenario broadcast (give --scenario echo to run echo anyway)\n');
  return broadcast;
}

/**
 * On a terminal one line rewritten in place every second; otherwise (a CI log, a pipe) a line
 * every 5 s; none with --quiet, nor with --json unless --progress-interval asks for it.
 */
function progressWriter(options: LoadOptions): { write(progress: Progress): void; clear(): void; intervalS: number } | undefined {
  const stderr = process.stderr;
  if (options.quiet || (options.json && options.progressIntervalS === undefined)) return undefined;
  const tty = stderr.isTTY === true;
  const intervalS = options.progressIntervalS ?? (tty ? 1 : LOG_PROGRESS_INTERVAL_S);
  if (!tty) {
    return { intervalS, write: (progress) => stderr.write(`wasmsocket load: ${progressLine(options, progress)}\n`), clear: () => {} };
  }
  let lastLength = 0;
  return {
    intervalS,
    write: (progress) => {
      const line = progressLine(options, progress);
      stderr.write(`\r${line.padEnd(lastLength)}`);
      lastLength = line.length;
    },
    clear: () => {
      if (lastLength > 0) stderr.write(`\r${' '.repeat(lastLength)}\r`);
    },
  };
}
