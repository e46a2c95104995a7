/** Medians, ratios and the number formats of the tables. */

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** 1 234 → "1.23k", 1 320 000 → "1.32M": three significant digits. */
export function count(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${(value / 1e6).toPrecision(3)}M`;
  if (abs >= 1e3) return `${(value / 1e3).toPrecision(3)}k`;
  return value >= 100 ? value.toFixed(0) : value.toPrecision(3);
}

/** A count of things, whole: 0, 12, 1.23k, 4.56M. */
export function whole(value: number): string {
  return Number.isFinite(value) && Math.abs(value) < 1000 ? value.toFixed(0) : count(value);
}

export function bytes(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 1024 * 1024) return `${(value / 1024 / 1024).toPrecision(3)} MiB`;
  if (Math.abs(value) >= 1024) return `${(value / 1024).toPrecision(3)} KiB`;
  return `${value.toFixed(0)} B`;
}

export function seconds(value: number): string {
  if (!Number.isFinite(value)) return '–';
  return value >= 10 ? `${value.toFixed(1)} s` : value >= 1 ? `${value.toFixed(2)} s` : `${(value * 1000).toFixed(0)} ms`;
}

export function ratio(value: number): string {
  if (!Number.isFinite(value)) return '–';
  return value >= 10 ? `${value.toFixed(1)}×` : `${value.toFixed(2)}×`;
}

export function percent(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(0)}%` : '–';
}

/** "20 B", "1 KiB", "64 KiB", "1 MiB" for message sizes. */
export function size(value: number): string {
  if (value >= 1024 * 1024 && value % (1024 * 1024) === 0) return `${value / 1024 / 1024} MiB`;
  if (value >= 1024 && value % 1024 === 0) return `${value / 1024} KiB`;
  return `${value} B`;
}
