/**
 * `wasmsocket load --out FILE.html` opened in real headless Chromium from the file, offline: the
 * summary and every chart are there, each series with one data point per second that has a value.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LoadResult } from '../../src/load/run.js';
import { launchChromium } from '../helpers/chromium.js';
import { runLoadCli } from '../load/cli-run.js';
import { startWsEcho } from '../load/servers.js';

test('the HTML report opens offline in Chromium with its summary and a chart per measure', async (t) => {
  t.timeout(120_000);
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const dir = mkdtempSync(join(tmpdir(), 'wasmsocket-report-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const html = join(dir, 'report.html');
  const json = join(dir, 'report.json');
  const { status, stderr } = await runLoadCli([server.url, '--connections', '2', '--duration', '2.5', '--out', html, '--out', json,
    '--threshold', 'rate < 1']);
  t.is(status, 1, `the threshold fails: ${stderr}`);
  const result = JSON.parse(readFileSync(json, 'utf8')) as LoadResult;
  t.true(result.series.length >= 2);

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const requests: string[] = [];
  const problems: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(pathToFileURL(html).href, { timeout: 30_000 });

  t.deepEqual(requests, [pathToFileURL(html).href], 'nothing is fetched but the file itself');
  t.deepEqual(problems, []);
  t.regex(await page.title(), /^wasmsocket load: echo → ws:\/\/127\.0\.0\.1:\d+\/$/);
  t.regex(await page.textContent('#summary') ?? '', /FAILED: rate < 1/);

  const expected: Record<string, Array<[string, (p: LoadResult['series'][number]) => number | null]>> = {
    messages: [['sent', (p) => p.sent], ['received', (p) => p.received]],
    latency: [['p50', (p) => p.p50], ['p99', (p) => p.p99]],
    connections: [['open', (p) => p.open]],
    errors: [['errors', (p) => p.errors]],
    cpu: [['cpu', (p) => p.cpuPercent]],
  };
  for (const [chart, lines] of Object.entries(expected)) {
    const svg = page.locator(`#chart-${chart} svg`);
    t.is(await svg.count(), 1, `chart ${chart}`);
    const box = await svg.boundingBox();
    t.true(box !== null && box.width > 100 && box.height > 50, `chart ${chart} is drawn`);
    for (const [name, pick] of lines) {
      const withValue = result.series.filter((point) => pick(point) !== null);
      const points = svg.locator(`g.series[data-series="${name}"] circle.point`);
      t.is(await points.count(), withValue.length, `${chart}/${name}: a point per second with a value`);
      const values = await points.evaluateAll((circles) => circles.map((c) => Number(c.getAttribute('data-value'))));
      t.deepEqual(values, withValue.map((point) => pick(point)), `${chart}/${name}: the series' values`);
      if (withValue.length >= 2) t.is(await svg.locator(`g.series[data-series="${name}"] polyline`).count() > 0, true);
    }
  }
});
