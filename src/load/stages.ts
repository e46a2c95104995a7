/**
 * Load shapes, k6-style: `--stages 30s:1000,60s:1000,10s:0` is a list of (duration, target open
 * connections). Over each stage the target moves linearly from the previous stage's target (0
 * before the first) to its own: a ramp up, a hold, a ramp down. Pure, so tests call it.
 */

export interface Stage {
  durationMs: number;
  /** Open connections wanted at the end of the stage. */
  target: number;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "1m30s", "500ms", "2.5s", or a bare number of seconds → ms; NaN when it is none of those. */
export function parseDuration(text: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) return NaN;
  let total = 0;
  for (const part of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(part[1]) * UNIT_MS[part[2]];
  return total;
}

/** Parses the flag's value; throws an Error whose message names the part that is wrong. */
export function parseStages(text: string): Stage[] {
  const parts = text.split(',').map((part) => part.trim());
  return parts.map((part) => {
    const match = /^([^:]+):(\d+)$/.exec(part);
    const durationMs = match === null ? NaN : parseDuration(match[1]);
    if (match === null || !(durationMs > 0)) {
      throw new Error(`--stages: "${part}" is not DURATION:CONNECTIONS (e.g. "30s:1000"; durations in ms, s, m or h)`);
    }
    const target = Number(match[2]);
    if (target > 1_000_000) throw new Error(`--stages: "${part}": at most 1000000 connections`);
    return { durationMs, target };
  });
}

export function stagesDurationMs(stages: readonly Stage[]): number {
  return stages.reduce((sum, stage) => sum + stage.durationMs, 0);
}

/** The most connections any stage asks for: what the plan must make room for. */
export function peakTarget(stages: readonly Stage[]): number {
  return stages.reduce((peak, stage) => Math.max(peak, stage.target), 0);
}

/** Open connections wanted `elapsedMs` into the stages (the last target once they are over). */
export function stageTarget(stages: readonly Stage[], elapsedMs: number): number {
  let from = 0;
  let startedAt = 0;
  for (const stage of stages) {
    if (elapsedMs < startedAt + stage.durationMs) {
      const progress = (elapsedMs - startedAt) / stage.durationMs;
      return Math.round(from + (stage.target - from) * Math.max(0, progress));
    }
    from = stage.target;
    startedAt += stage.durationMs;
  }
  return from;
}

/**
 * The stages one shard runs: each stage's target split like `split` splits connections, so the
 * shards' targets add up to the whole at every stage's end.
 */
export function shardStages(stages: readonly Stage[], shard: number, shards: number): Stage[] {
  return stages.map((stage) => {
    const base = Math.floor(stage.target / shards);
    return { durationMs: stage.durationMs, target: base + (shard < stage.target % shards ? 1 : 0) };
  });
}
