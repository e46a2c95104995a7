/**
 * `wasmsocket load` as the harness runs it: the same argument parser and the same runLoad() as
 * `node dist/src/cli.js load … --json`, plus the once-a-second progress samples the CLI only
 * shows on a terminal. Prints one JSON object, { result, progress, originMs }, and exits like the CLI
 * (0, or 1 when nothing succeeded; 2 for a flag mistake).
 *
 * Why not the CLI itself: its --json rates divide everything received by the active time, and a
 * broadcast run goes on receiving while it drains (up to 2 s) and closes (the closing handshakes
 * wait behind an overloaded server's backlog), so an overloaded server looked up to 3× faster
 * than it is. The per-second samples give the rate inside the run's steady window.
 */
import { parseLoadArgs, UsageError } from '../../src/load/args.js';
import { runLoad, type Progress } from '../../src/load/run.js';

let options;
try {
  options = parseLoadArgs([...process.argv.slice(2), '--json']);
} catch (error) {
  process.stderr.write(`load-driver: ${(error as Error).message}\n`);
  process.exit(error instanceof UsageError ? 2 : 1);
}
const progress: Progress[] = [];
const abort = new AbortController();
process.once('SIGINT', () => abort.abort());
process.once('SIGTERM', () => abort.abort());
// The progress samples' elapsedS counts from about here: the harness maps them onto its CPU samples.
const originMs = performance.timeOrigin + performance.now();
const result = await runLoad(options, {
  signal: abort.signal,
  onProgress: (sample) => progress.push(sample),
});
process.stdout.write(`${JSON.stringify({ result, progress, originMs })}\n`);
process.exitCode = result.ok ? 0 : 1;
