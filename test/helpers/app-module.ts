/** An application module written to a temporary directory, removed when the test ends. */
import type { ExecutionContext } from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The path of `app.mjs` holding `source`. */
export function writeAppModule(t: ExecutionContext, source: string): string {
  const directory = mkdtempSync(join(tmpdir(), 'wasmsocket-app-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const path = join(directory, 'app.mjs');
  writeFileSync(path, source);
  return path;
}
