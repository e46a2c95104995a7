/**
 * docs/operations.md's table of metrics and docs/grafana-dashboard.json against the code: every
 * metric the server defines has a row with its type, every row is a metric it defines, and the
 * dashboard asks only for metrics that exist.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeMetrics } from '../../src/main-thread/metrics.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Every metric the server defines, with its type. */
function definedMetrics(): Map<string, string> {
  const metrics = new NodeMetrics(() => Promise.reject(new Error('not scraped')));
  return new Map(metrics.registry.getMetricsAsArray().map((metric) => [metric.name, String(metric.type)]));
}

/** The rows of the table in docs/operations.md's Metrics section: name → type. */
function documentedMetrics(): Map<string, string> {
  const text = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
  const section = /\n## Metrics\n([\s\S]*?)\n## /.exec(text)?.[1] ?? '';
  const rows = new Map<string, string>();
  for (const [, name, type] of section.matchAll(/^\| `(wasmsocket_\w+)` \| (\w+) \|/gm)) rows.set(name!, type!);
  return rows;
}

test('every metric the server defines has a row in docs/operations.md with its type, and every row is defined', (t) => {
  const defined = definedMetrics();
  const documented = documentedMetrics();
  t.true(defined.size > 30, `read ${defined.size} metrics from the registry`);
  t.deepEqual([...defined.keys()].filter((name) => !documented.has(name)), [], 'metrics missing from docs/operations.md');
  t.deepEqual([...documented.keys()].filter((name) => !defined.has(name)), [], 'rows that name no metric');
  for (const [name, type] of defined) t.is(documented.get(name), type, `type of ${name}`);
});

test('the Grafana dashboard is JSON whose queries name only metrics the server defines', (t) => {
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'docs', 'grafana-dashboard.json'), 'utf8')) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const defined = definedMetrics();
  t.true(dashboard.panels.length > 5);
  for (const panel of dashboard.panels) {
    t.true(panel.targets.length > 0, `${panel.title} has a query`);
    for (const { expr } of panel.targets) {
      for (const [name] of expr.matchAll(/wasmsocket_\w+/g)) {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        t.true(defined.has(name) || defined.get(base) === 'histogram', `${panel.title}: ${name} is not a metric`);
      }
    }
  }
});
