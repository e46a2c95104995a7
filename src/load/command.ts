/**
 * `wasmsocket load`: parses the flags, runs the load, prints progress (on a TTY) and the summary
 * or one JSON object, and returns the exit code: 0, or 1 when nothing succeeded. Flag mistakes
 * throw UsageError (exit 2, reported by the CLI).
 */
import { UsageError as CliUsageError } from '../cli-args.js';
import { LOAD_USAGE, LoadHelpRequested, parseLoadArgs, UsageError } from './args.js';
import { headerLine, progressLine, summaryTable } from './report.js';
import { declinedDeflate, runLoad } from './run.js';

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
  const live = !options.json && stderr.isTTY === true;
  if (!options.json) process.stdout.write(`${headerLine(options)}\n`);

  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let lastLength = 0;
  const result = await runLoad(options, {
    signal: abort.signal,
    onWarning: options.json ? undefined : (warning) => stderr.write(`wasmsocket load: warning: ${warning}\n`),
    onProgress: live ? (progress) => {
      const line = progressLine(options, progress);
      stderr.write(`\r${line.padEnd(lastLength)}`);
      lastLength = line.length;
    } : undefined,
  });
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (live && lastLength > 0) stderr.write(`\r${' '.repeat(lastLength)}\r`);

  // Asked for and not given: said on stderr in one line too, so a script sees it beside --json.
  if (result.deflate.declined > 0) stderr.write(`wasmsocket load: ${declinedDeflate(result.deflate.declined, result.connect.opened)}\n`);
  if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else process.stdout.write(summaryTable(result));
  return result.ok ? 0 : 1;
}
