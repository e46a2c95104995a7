/**
 * docs/api.md's table of `listen()` options against the table of options in the code
 * (src/server/options.ts): the same names (and the `ServerOptions` type the package publishes
 * declares them), the same types, defaults, bounds and allowed values, and for each option
 * the `wasmsocket serve` flag that sets it.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { listen, DEFAULTS, type Application } from '../../src/index.js';
import { CLI_ONLY_FLAGS, SERVE_USAGE } from '../../src/cli-args.js';
import { OPTIONS, specs, type OptionSpec } from '../../src/server/options.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

interface Row { name: string; type: string; defaultCell: string; allowed: string; cli: string }

/** The rows between the listen-options markers of docs/api.md, by option name. */
function documentedOptions(): Map<string, Row> {
  const text = readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8');
  const block = /<!-- listen-options:start -->\n([\s\S]*?)<!-- listen-options:end -->/.exec(text);
  if (block === null) throw new Error('docs/api.md has no listen-options table');
  const rows = new Map<string, Row>();
  for (const line of block[1].split('\n')) {
    // Cells split on `|` not escaped as `\|` (a union type in a cell).
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((cell) => cell.trim());
    const name = /^`(\w+)`$/.exec(cells[0] ?? '')?.[1];
    if (name === undefined) continue; // the header and its rule
    if (rows.has(name)) throw new Error(`docs/api.md lists ${name} twice`);
    rows.set(name, { name, type: cells[1], defaultCell: cells[2], allowed: cells[3], cli: cells[5] });
  }
  return rows;
}

/** The property names of ServerOptions as the published declarations give them. */
function declaredOptions(): string[] {
  const entry = join(ROOT, 'dist', 'src', 'index.d.ts');
  const program = ts.createProgram([entry], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, types: [] });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
  const exported = checker.getExportsOfModule(moduleSymbol).find((symbol) => symbol.name === 'ServerOptions');
  if (exported === undefined) throw new Error('the package exports no ServerOptions type');
  const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
  return checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(symbol)).map((property) => property.name);
}

/** How a default is written in the table's default cell: its first code span. */
function written(value: unknown): string | undefined {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return `[${value.map((item) => `'${item}'`).join(', ')}]`;
  return undefined; // objects and functions: described in words
}

const echo: Application = { message: (conn, data, isBinary) => { conn.send(data, isBinary); } };

test('docs/api.md has a row for every option of the table, the table every row, and the published type declares them all', (t) => {
  const documented = [...documentedOptions().keys()].sort();
  const table = Object.keys(OPTIONS).sort();
  t.true(table.length > 20, `read ${table.length} options from the table`);
  t.deepEqual(table.filter((name) => !documented.includes(name)), [], 'options missing from docs/api.md');
  t.deepEqual(documented.filter((name) => !table.includes(name)), [], 'rows of docs/api.md that the table does not declare');
  t.deepEqual(declaredOptions().sort(), table, 'the ServerOptions type of dist/src/index.d.ts');
});

/** The type column's word for a kind of option (`value` options are described in words). */
const TYPE_CELL: Record<OptionSpec['kind'], string | undefined> = {
  integer: 'integer', string: 'string', enum: 'string', boolean: 'boolean', list: 'string[]', function: 'function', value: undefined,
};

test("each row's type, and its allowed values or bounds, are the table's", (t) => {
  const rows = documentedOptions();
  for (const [name, spec] of specs()) {
    const row = rows.get(name);
    if (row === undefined) continue; // reported by the test above
    const type = TYPE_CELL[spec.kind];
    if (type !== undefined) t.is(row.type, type, `type of ${name}`);
    if (spec.kind === 'enum') {
      t.deepEqual([...row.allowed.matchAll(/`'([^']*)'`/g)].map((match) => match[1]), [...spec.values!], `allowed values of ${name}`);
    }
    if (spec.kind === 'integer') {
      const bounds = spec.max === undefined || spec.max === Number.MAX_SAFE_INTEGER ? `≥ ${spec.min}` : `${spec.min}-${spec.max}`;
      t.is(row.allowed.split(';')[0], bounds, `bounds of ${name}`);
    }
  }
});

test('listen() accepts every documented option name and refuses an undocumented one', async (t) => {
  // A value no option takes, then workers: -1, so that nothing starts: the answer is a TypeError
  // either way, and only an unknown name gets "unknown option".
  const probe = Symbol('probe');
  const unknownNames: string[] = [];
  for (const name of documentedOptions().keys()) {
    const error = await listen({ app: echo, [name]: probe, workers: -1 }).then(
      async (server) => { await server.close(); return undefined; },
      (reason: unknown) => reason as Error,
    );
    t.truthy(error, `${name}: a symbol value and workers: -1 must be refused`);
    if (error !== undefined && error.message.includes(`unknown option "${name}"`)) unknownNames.push(name);
  }
  t.deepEqual(unknownNames, [], 'documented options that listen() calls unknown');
  const error = await t.throwsAsync(listen({ app: echo, noSuchOption: 1 } as never), { instanceOf: TypeError });
  t.regex(error?.message ?? '', /unknown option "noSuchOption"/);
});

test('every default in DEFAULTS is the one docs/api.md gives', (t) => {
  const rows = documentedOptions();
  for (const [name, value] of Object.entries(DEFAULTS)) {
    const row = rows.get(name);
    if (row === undefined) {
      t.fail(`DEFAULTS.${name} has no row in docs/api.md`);
      continue;
    }
    const expected = written(value);
    if (expected === undefined) continue;
    const shown = /`([^`]*)`/.exec(row.defaultCell)?.[1];
    t.is(shown, expected, `default of ${name}`);
  }
});

test("each row's CLI column names the flags that set that option, and together they are the flags of wasmsocket serve", (t) => {
  const rows = documentedOptions();
  const documentedFlags = new Set<string>();
  for (const [name, spec] of specs()) {
    const row = rows.get(name);
    if (row === undefined) continue;
    const shown = [...row.cli.matchAll(/--[a-z][a-z-]*/g)].map((match) => match[0]);
    const expected = [
      ...(spec.cli === undefined ? [] : [`--${spec.cli.flag}`]),
      ...Object.entries(CLI_ONLY_FLAGS).filter(([, flag]) => flag.option === name).map(([flag]) => `--${flag}`),
    ];
    t.deepEqual(shown, expected, `CLI column of ${name}`);
    if (spec.cli?.seconds === true) t.regex(row.cli, /\(s\)/, `${name}: the flag takes seconds`);
    for (const flag of shown) documentedFlags.add(flag);
  }
  const usageFlags = new Set([...SERVE_USAGE.matchAll(/--[a-z][a-z-]*/g)].map((match) => match[0]));
  usageFlags.delete('--help');
  t.deepEqual([...usageFlags].filter((flag) => !documentedFlags.has(flag)).sort(), [], 'flags of wasmsocket serve missing from docs/api.md');
});
