/**
 * Proof of progress from a worker to the main thread's heartbeat, without a message: a counter
 * in shared memory that the worker bumps each time it handles a socket read. A worker that is
 * slow to answer its heartbeat because it is working through a flood keeps bumping it; one stuck
 * in an endless loop does not. Inline (no counter set) this costs one branch per read.
 */
let counter: Int32Array | undefined;

/** Called once in a worker with the counter the main thread watches. */
export function reportProgressTo(shared: Int32Array): void {
  counter = shared;
}

export function noteProgress(): void {
  if (counter !== undefined) counter[0] = (counter[0] + 1) | 0;
}

export function createProgressCounter(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4));
}
