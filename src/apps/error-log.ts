/**
 * Application errors as log lines, at most a few of each kind per window: a client that makes
 * the application throw at every message must not turn the log into a copy of its traffic.
 * What is held back is counted and logged when its window ends.
 */

export interface ErrorLogOptions {
  /** Lines of one kind logged per window; the rest are counted. */
  burst: number;
  windowMs: number;
}

/** Kinds tracked at once; errors of further kinds share one count until a window ends. */
const MAX_KINDS = 100;
const OTHER_KINDS = 'errors of other kinds';

interface Kind {
  logged: number;
  heldBack: number;
}

export class ErrorLog {
  readonly #log: (line: string) => void;
  readonly #options: ErrorLogOptions;
  /** Kinds seen in the current window, by the first lines of their stacks. */
  #kinds = new Map<string, Kind>();
  #windowTimer: NodeJS.Timeout | undefined;

  constructor(log: (line: string) => void, options: ErrorLogOptions = { burst: 5, windowMs: 10_000 }) {
    this.#log = log;
    this.#options = options;
  }

  /** Logs `context` and the error's stack, unless its kind had its burst this window. */
  report(error: Error, context = ''): void {
    const stack = error.stack ?? `${error.name}: ${error.message}`;
    // The message and the place it was thrown, numbers aside (connection ids, positions): the
    // same bug, whichever connection hit it.
    let key = stack.split('\n', 2).join('\n').replace(/\d+/g, '#');
    if (!this.#kinds.has(key) && this.#kinds.size >= MAX_KINDS) key = OTHER_KINDS;
    let kind = this.#kinds.get(key);
    if (kind === undefined) this.#kinds.set(key, (kind = { logged: 0, heldBack: 0 }));
    if (this.#windowTimer === undefined) {
      this.#windowTimer = setTimeout(() => this.#endWindow(), this.#options.windowMs);
      this.#windowTimer.unref();
    }
    if (kind.logged < this.#options.burst && key !== OTHER_KINDS) {
      kind.logged++;
      this.#log(`${context}${stack}`);
    } else {
      kind.heldBack++;
    }
  }

  #endWindow(): void {
    this.#windowTimer = undefined;
    const seconds = this.#options.windowMs / 1000;
    for (const [key, kind] of this.#kinds) {
      if (kind.heldBack === 0) continue;
      const what = key === OTHER_KINDS ? OTHER_KINDS : `more like: ${key.split('\n', 1)[0]}`;
      this.#log(`${kind.heldBack} ${what} (not logged, in the last ${seconds} s)`);
    }
    this.#kinds = new Map();
  }
}
