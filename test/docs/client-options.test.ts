/**
 * docs/client.md's table of `connect()` options against the client's own declaration of them
 * (`CLIENT_OPTIONS`): the same names, defaults and least values, and each bound enforced.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { CLIENT_OPTIONS, connect } from '../../src/client/client.js';

const ROOT = new URL('../../../', import.meta.url);

function documentedRows(): Map<string, { defaultCell: string; allowed: string }> {
  const text = readFileSync(new URL('docs/client.md', ROOT), 'utf8');
  const block = /<!-- client-options:start -->\n([\s\S]*?)<!-- client-options:end -->/.exec(text);
  if (block === null) throw new Error('docs/client.md has no client-options table');
  const rows = new Map<string, { defaultCell: string; allowed: string }>();
  for (const line of block[1]!.split('\n')) {
    const cells = line.split('|').slice(1, -1).map((cell) => cell.trim());
    const name = /^`(\w+)`$/.exec(cells[0] ?? '')?.[1];
    if (name !== undefined) rows.set(name, { defaultCell: cells[1]!, allowed: cells[2]! });
  }
  return rows;
}

test('docs/client.md lists every option of connect(), with the defaults and least values of the code', (t) => {
  const rows = documentedRows();
  t.deepEqual([...rows.keys()].sort(), [...Object.keys(CLIENT_OPTIONS), 'token', 'WebSocket'].sort());
  for (const [name, { default: fallback, least }] of Object.entries(CLIENT_OPTIONS)) {
    const row = rows.get(name)!;
    t.is(row.defaultCell, `\`${fallback}\``, `${name}: default`);
    t.regex(row.allowed, new RegExp(`^integer ≥ ${least}\\b`), `${name}: least value`);
  }
});

test('each numeric option refuses a value below its least, and a fraction, with a TypeError naming it', (t) => {
  for (const [name, { least }] of Object.entries(CLIENT_OPTIONS)) {
    for (const bad of [least - 1, least + 0.5]) {
      t.throws(() => connect('ws://127.0.0.1:1/', { [name]: bad }), { instanceOf: TypeError, message: new RegExp(`^${name} must be an integer ≥ ${least}`) });
    }
  }
});
