/**
 * How much message handling one event-loop turn of this thread may do before connections go
 * on in the next turn. One 64 KiB read can hold ~650 publishes that each fan out to 1 000
 * subscribers: handled in one callback, that lagged the thread's loop by seconds, and every
 * other connection of the thread (and its heartbeat, and the worker's liveness reports)
 * waited. The budget is per thread, not per connection: what must stay bounded is the turn.
 */
import { performance } from 'node:perf_hooks';

/** Time one turn may spend handling frames before connections yield to the rest of the loop. */
export const TURN_BUDGET_MS = 10;
/** The clock is read every this many frames (a frame's handling costs far less than a clock read). */
const FRAMES_PER_CLOCK_READ = 8;

let turnStarted = -1;
let frames = 0;

/** Called after each complete frame: true when the turn's budget is spent and the caller should yield. */
export function turnBudgetSpent(): boolean {
  if (turnStarted < 0) {
    turnStarted = performance.now();
    frames = 0;
    // The next turn starts a new budget.
    setImmediate(startNewTurn);
    return false;
  }
  if (++frames % FRAMES_PER_CLOCK_READ !== 0) return false;
  return performance.now() - turnStarted > TURN_BUDGET_MS;
}

function startNewTurn(): void {
  turnStarted = -1;
}
