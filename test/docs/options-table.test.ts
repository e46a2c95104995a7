/**
 * docs/api.md's table of `listen()` options against the code: every option the `ServerOptions`
 * type declares has a row, every row names an option that `listen()` accepts, every default in
 * `DEFAULTS` is the one the row gives, and the CLI column names the flags `wasmsocket serve` has.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { listen, DEFAULTS, type Application } from '../../src/index.js';
import { SERVE_USAGE } from '../../src/cli-args.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

interface Row { name: string; type: string; defaultCell: string; cli: string }

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
    rows.set(name, { name, type: cells[1], defaultCell: cells[2], cli: cells[5] });
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

test('every option of the ServerOptions type has a row in docs/api.md, and every row is a declared option', (t) => {
  const documented = [...documentedOptions().keys()].sort();
  const declared = declaredOptions().sort();
  t.true(declared.length > 20, `read ${declared.length} options from the type`);
  t.deepEqual(declared.filter((name) => !documented.includes(name)), [], 'options missing from docs/api.md');
  t.deepEqual(documented.filter((name) => !declared.includes(name)), [], 'rows of docs/api.md that the type does not declare');
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

test("the table's CLI column names exactly the flags of wasmsocket serve", (t) => {
  const usageFlags = new Set([...SERVE_USAGE.matchAll(/--[a-z][a-z-]*/g)].map((match) => match[0]));
  usageFlags.delete('--help');
  const tableFlags = new Set<string>();
  for (const row of documentedOptions().values()) {
    for (const match of row.cli.matchAll(/--[a-z][a-z-]*/g)) tableFlags.add(match[0]);
  }
  t.deepEqual([...tableFlags].filter((flag) => !usageFlags.has(flag)), [], 'flags in the table that wasmsocket serve does not have');
  t.deepEqual([...usageFlags].filter((flag) => !tableFlags.has(flag)), [], 'flags of wasmsocket serve missing from the table');
});
