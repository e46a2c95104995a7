/**
 * The Node executables a benchmark can start servers with, and how to name them in a report.
 * wasmsocket, `ws` and the load generator run on the harness's own Node (process.execPath: under
 * npm scripts the repo's pinned Node 26 from the `node` package). A peer with native binaries
 * for older Nodes only (uWebSockets.js) looks for a system Node here.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, realpathSync } from 'node:fs';
import { delimiter, join, relative, sep } from 'node:path';

const versions = new Map<string, string | undefined>();

/** `v20.20.2`, or undefined when `path` does not run as Node. Cached: one child per executable. */
export function nodeVersion(path: string): string | undefined {
  if (!versions.has(path)) {
    const run = spawnSync(path, ['-p', 'process.version'], { encoding: 'utf8', timeout: 10_000 });
    versions.set(path, run.status === 0 ? run.stdout.trim() : undefined);
  }
  return versions.get(path);
}

/**
 * Every executable `node` on PATH outside a node_modules folder (npm puts node_modules/.bin
 * first, and the `node` package's binary there is the harness's own), in PATH order, each real
 * file once.
 */
export function systemNodesOnPath(): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '' || dir.split(sep).includes('node_modules')) continue;
    const candidate = join(dir, 'node');
    let real: string;
    try {
      accessSync(candidate, constants.X_OK);
      real = realpathSync(candidate);
    } catch {
      continue;
    }
    if (real.split(sep).includes('node_modules') || seen.has(real)) continue;
    seen.add(real);
    found.push(candidate);
  }
  return found;
}

/** The path as a command line in a report shows it: relative to `root` when inside it. */
export function shownPath(path: string, root: string): string {
  return path.startsWith(`${root}${sep}`) ? relative(root, path) : path;
}

/** "v26.10.0 (node_modules/node/bin/node)": the version and where it lives. */
export function describeNode(path: string, root: string): string {
  return `${nodeVersion(path) ?? 'not runnable'} (${shownPath(path, root)})`;
}
