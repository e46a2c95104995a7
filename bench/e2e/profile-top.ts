/**
 * Top functions by self time in V8 CPU profiles (`node --cpu-prof --cpu-prof-dir=DIR …`):
 *   node dist/bench/e2e/profile-top.js DIR_OR_FILE… [--top N]
 * One table per profile (worker threads write their own), self time in ms and % of the profile,
 * plus the same totals grouped by file.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function files(paths: string[]): string[] {
  return paths.flatMap((path) => statSync(path).isDirectory()
    ? readdirSync(path).filter((name) => name.endsWith('.cpuprofile')).sort().map((name) => join(path, name))
    : [path]);
}

function shortUrl(url: string): string {
  if (url === '') return '';
  const match = /\/(dist\/.*|node_modules\/.*)$/.exec(url);
  if (match !== null) return match[1];
  return url.startsWith('node:') ? url : basename(url);
}

function summarize(path: string, top: number): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  // Each sample's time is the delta to the next sample (the last one gets the mean).
  const mean = (profile.endTime - profile.startTime) / Math.max(1, profile.samples.length);
  profile.samples.forEach((id, i) => {
    const us = i + 1 < profile.timeDeltas.length ? profile.timeDeltas[i + 1] : mean;
    selfUs.set(id, (selfUs.get(id) ?? 0) + us);
  });
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const file = shortUrl(url);
    const key = `${functionName || '(anonymous)'}${file === '' ? '' : `  ${file}:${lineNumber + 1}`}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    byFile.set(file || '(native / VM)', (byFile.get(file || '(native / VM)') ?? 0) + us);
  }
  const table = (map: Map<string, number>, n: number) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([key, us]) => `${(us / 1000).toFixed(0).padStart(8)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${key}`).join('\n');
  return `== ${path}: ${(total / 1000).toFixed(0)} ms sampled\n-- by function (self time)\n${table(byFunction, top)}\n-- by file\n${table(byFile, 12)}\n`;
}

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
const paths = args.filter((_, i) => i !== topAt && i !== topAt + 1);
if (paths.length === 0) {
  process.stderr.write('usage: node dist/bench/e2e/profile-top.js DIR_OR_FILE… [--top N]\n');
  process.exit(2);
}
for (const path of files(paths)) process.stdout.write(`${summarize(path, top)}\n`);
