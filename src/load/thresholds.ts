/**
 * Pass/fail thresholds for CI (`--threshold 'p99 < 5'`): parsed once from the flags, checked
 * against the run's summary. A run that misses one exits 1 and names it.
 */

/** The part of the run's summary (LoadResult) that thresholds read. */
export interface ThresholdSubject {
  latencyMs: Record<'p50' | 'p90' | 'p99' | 'p99_9' | 'max' | 'count', number>;
  messages: { receivedPerSecond: number; lost?: number };
  errorCount: number;
}

export const THRESHOLD_METRICS = ['p50', 'p90', 'p99', 'p99_9', 'max', 'rate', 'errors', 'lost'] as const;
export type ThresholdMetric = typeof THRESHOLD_METRICS[number];

const OPERATORS = ['<=', '>=', '==', '<', '>'] as const;
type Operator = typeof OPERATORS[number];

export interface Threshold {
  /** The expression as given, trimmed: how reports name it. */
  expr: string;
  metric: ThresholdMetric;
  op: Operator;
  bound: number;
}

export interface ThresholdOutcome {
  expr: string;
  /** The metric's value in this run (latency in ms, rate in messages/s); null: no latency was measured. */
  value: number | null;
  ok: boolean;
}

const EXPRESSION = /^\s*([a-z0-9_.]+)\s*(<=|>=|==|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/;

/** `METRIC OP NUMBER`, or an Error whose message names the expression and what is wrong with it. */
export function parseThreshold(text: string): Threshold {
  const match = EXPRESSION.exec(text);
  if (match === null) {
    throw new Error(`--threshold "${text}" is not METRIC OP NUMBER (e.g. "p99 < 5"; OP one of < <= > >= ==)`);
  }
  // p99.9 is how the summary prints it; accept it as well as the JSON name.
  const metric = match[1] === 'p99.9' ? 'p99_9' : match[1];
  if (!(THRESHOLD_METRICS as readonly string[]).includes(metric)) {
    throw new Error(`--threshold "${text}": unknown metric "${match[1]}" (one of ${THRESHOLD_METRICS.join(', ')})`);
  }
  return { expr: text.trim(), metric: metric as ThresholdMetric, op: match[2] as Operator, bound: Number(match[3]) };
}

/**
 * The value a threshold's metric has in `result`; `lost` is 0 where the scenario counts no losses;
 * a latency without a single sample is null (and fails its threshold: nothing was measured).
 */
export function metricValue(result: ThresholdSubject, metric: ThresholdMetric): number | null {
  switch (metric) {
    case 'rate': return result.messages.receivedPerSecond;
    case 'errors': return result.errorCount;
    case 'lost': return result.messages.lost ?? 0;
    default: return result.latencyMs.count === 0 ? null : result.latencyMs[metric];
  }
}

function holds(value: number, op: Operator, bound: number): boolean {
  switch (op) {
    case '<': return value < bound;
    case '<=': return value <= bound;
    case '>': return value > bound;
    case '>=': return value >= bound;
    case '==': return value === bound;
  }
}

export function checkThresholds(thresholds: readonly Threshold[], result: ThresholdSubject): ThresholdOutcome[] {
  return thresholds.map((threshold) => {
    const value = metricValue(result, threshold.metric);
    return { expr: threshold.expr, value, ok: value !== null && holds(value, threshold.op, threshold.bound) };
  });
}

/** One line per failed threshold, for the text summary and stderr. */
export function failedThresholdLines(outcomes: readonly ThresholdOutcome[]): string[] {
  return outcomes.filter((outcome) => !outcome.ok)
    .map((outcome) => `threshold failed: ${outcome.expr} (${describeValue(outcome.value)})`);
}

export function describeValue(value: number | null): string {
  return value === null ? 'no latency samples' : `was ${Number(value.toFixed(3))}`;
}
