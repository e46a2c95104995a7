/** Flags shared by the end-to-end benchmark commands. */
import { parseArgs } from 'node:util';

export interface BenchOptions {
  quick: boolean;
  repetitions: number;
  /** Seconds per echo/broadcast run, overriding the command's default. */
  durationS: number | undefined;
  /** Only these server ids / scenario ids (for trying things out). */
  servers: string[] | undefined;
  scenarios: string[] | undefined;
  /** Re-render the outputs from a raw JSON file of an earlier run instead of measuring. */
  fromRaw: string | undefined;
}

export function parseBenchOptions(command: string, argv = process.argv.slice(2)): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean' },
      repetitions: { type: 'string' },
      duration: { type: 'string' },
      servers: { type: 'string' },
      scenarios: { type: 'string' },
      'from-raw': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`Usage: npm run bench:${command} -- [--quick] [--repetitions N] [--duration S] [--servers id,…] [--scenarios id,…]
  --quick            one repetition of short runs (a smoke test of the harness, not a result)
  --repetitions N    measurements of every (scenario, server) pair (default 3; --quick: 1)
  --duration S       seconds per echo/broadcast run instead of the default
  --servers, --scenarios   only these ids (see the raw JSON for the ids)
  --from-raw FILE    no measuring: rebuild the table and chart from bench/results/raw/FILE
Environment:
  BENCH_UWS_NODE=PATH   the Node that runs uWebSockets.js (default: the first system node on PATH
                        that loads its native binary; the npm build has them for Node 16/18/20)
  BENCH_LOAD_CORES=K    bench:scaling: CPUs for the load generator (default: half, on ≥ 3 CPUs)
`);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const repetitions = values.repetitions === undefined ? (quick ? 1 : 3) : Number(values.repetitions);
  if (!Number.isInteger(repetitions) || repetitions < 1 || repetitions > 20) throw new TypeError('--repetitions must be 1-20');
  const durationS = values.duration === undefined ? undefined : Number(values.duration);
  if (durationS !== undefined && !(durationS >= 1 && durationS <= 120)) throw new TypeError('--duration must be 1-120 seconds');
  const list = (text: string | undefined) => text?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return { quick, repetitions, durationS, servers: list(values.servers), scenarios: list(values.scenarios), fromRaw: values['from-raw'] };
}

/** Keeps the items whose id is listed (all when no list); an unknown id is a mistake. */
export function select<T extends { id: string }>(items: T[], ids: string[] | undefined, what: string): T[] {
  if (ids === undefined) return items;
  for (const id of ids) {
    if (!items.some((item) => item.id === id)) throw new TypeError(`unknown ${what} "${id}"; known: ${items.map((item) => item.id).join(', ')}`);
  }
  return items.filter((item) => ids.includes(item.id));
}
