/** Scrapes a /metrics endpoint and reads it back with a Prometheus text-format parser. */
import parsePrometheusTextFormat, { type ParsedFamily, type ParsedSample } from 'parse-prometheus-text-format';

export class Scrape {
  readonly #families = new Map<string, ParsedFamily>();

  constructor(readonly text: string) {
    for (const family of parsePrometheusTextFormat(text)) this.#families.set(family.name, family);
  }

  static async from(url: string): Promise<Scrape> {
    const response = await fetch(url);
    if (response.status !== 200) throw new Error(`${url}: ${response.status}`);
    return new Scrape(await response.text());
  }

  family(name: string): ParsedFamily {
    const family = this.#families.get(name);
    if (family === undefined) throw new Error(`no metric ${name} in the scrape`);
    return family;
  }

  /**
   * `name`'s `_count` per value of `label`, read from the text: the parser folds a histogram's
   * labelled series into one (it keeps only `le`).
   */
  histogramCounts(name: string, label: string): Record<string, number> {
    this.family(name);
    const counts: Record<string, number> = {};
    const line = new RegExp(`^${name}_count\\{${label}="([^"]*)"\\} (\\S+)$`, 'gm');
    for (const [, value, count] of this.text.matchAll(line)) counts[value!] = Number(count);
    return counts;
  }

  /** The metric names, in the order the scrape gives them. */
  names(): string[] {
    return [...this.#families.keys()];
  }

  has(name: string): boolean {
    return this.#families.has(name);
  }

  /** The samples of `name` whose labels include `labels`. */
  samples(name: string, labels: Record<string, string> = {}): ParsedSample[] {
    return this.family(name).metrics.filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value));
  }

  /** The value of the one sample of `name` with `labels`. */
  value(name: string, labels: Record<string, string> = {}): number {
    const samples = this.samples(name, labels);
    if (samples.length !== 1) throw new Error(`${name}${JSON.stringify(labels)}: ${samples.length} samples`);
    return Number(samples[0]!.value);
  }
}
