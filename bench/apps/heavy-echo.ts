/**
 * A CPU-heavy echo application for the worker-pool benchmark: every message costs
 * about 0.2 ms of synchronous work, then goes back to its sender.
 *
 * The work is a fixed number of loop iterations, not a wall-clock spin: a spin would do less work
 * whenever its thread is preempted (the inline and worker modes share cores with the load
 * generator), and the two modes must do the same work per message. The count comes from
 * HEAVY_ECHO_ITERATIONS (the harness calibrates once and passes the same number to every
 * server it starts) or, when unset, from calibrate() in this process.
 */
import type { Application } from '../../src/apps/app.js';

export const TARGET_MS = 0.2;

/** The work: xorshift32 rounds; the result is returned so the loop cannot be optimised away. */
export function spin(iterations: number, seed: number): number {
  let x = seed | 1;
  for (let i = 0; i < iterations; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  return x;
}

/**
 * Iterations that take `targetMs`, from the fastest of several timed trials (the fastest is the
 * one least disturbed by preemption on a shared machine); measured with performance.now().
 */
export function calibrate(targetMs = TARGET_MS): number {
  const probe = 200_000;
  spin(probe, 7); // warm up: let the JIT compile spin() first
  let best = Infinity;
  for (let trial = 0; trial < 30; trial++) {
    const start = performance.now();
    spin(probe, trial);
    best = Math.min(best, performance.now() - start);
  }
  return Math.max(1, Math.round(probe * targetMs / best));
}

const fromEnv = Number(process.env.HEAVY_ECHO_ITERATIONS);
const iterations = Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : calibrate();
let sink = 0;

const heavyEcho: Application = {
  message(conn, data, isBinary) {
    sink ^= spin(iterations, data.length + sink);
    conn.send(data, isBinary);
  },
};

export default heavyEcho;
