/**
 * `wasmsocket/load`: the load generator as a library. It is an entry point of its own so that
 * `import 'wasmsocket'` (the server) loads none of it, nor hdr-histogram-js.
 *
 *   const options = parseLoadArgs(['ws://127.0.0.1:8080/', '--connections', '10', '--duration', '2']);
 *   const result = await runLoad(options); // the object `wasmsocket load --json` prints
 *   console.log(summaryTable(result));
 */
export { runLoad } from './run.js';
export type { LoadResult, Percentiles, RunHooks, Progress, SeriesPoint } from './run.js';
export { parseLoadArgs, LOAD_DEFAULTS, UsageError } from './args.js';
export type { LoadOptions, LoadTarget, Scenario } from './args.js';
export { summaryTable } from './report.js';
export type { ScenarioHooks, ScriptConnection } from './scenarios/custom.js';
