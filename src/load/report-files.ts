/** `--out`: writes each report file the flags ask for, by its extension. */
import { writeFile } from 'node:fs/promises';
import type { LoadOptions } from './options.js';
import { seriesCsv } from './report-csv.js';
import { reportHtml } from './report-html.js';
import type { LoadResult } from './result.js';

/** Writes the files and returns their paths. */
export async function writeReports(options: LoadOptions, result: LoadResult): Promise<string[]> {
  const written: string[] = [];
  for (const { path, format } of options.outputs) {
    const text = format === 'csv' ? seriesCsv(result.series)
      : format === 'html' ? reportHtml(result)
        : `${JSON.stringify(result, null, 2)}\n`;
    await writeFile(path, text);
    written.push(path);
  }
  return written;
}
