/**
 * The server's log: one line per operational event (a worker replaced, Redis down, the fd table
 * full, the server listening), each with a level, a stable name an alert rule can match
 * (`event`), that event's fields, and a sentence for people. `json` writes one JSON object per
 * line; `text` the same facts as a readable line. Worker threads send their entries to the main
 * thread, whose Logger writes every line: one writer per process, lines never interleaved.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Values a log field may hold: they go into a JSON line as they are. */
export type LogField = string | number | boolean | null;

/** One event, as the code that saw it reports it (plain data: it crosses threads). */
export interface LogEntry {
  level: LogLevel;
  /** Stable snake_case name of the kind of event (docs/operations.md lists them). */
  event: string;
  /** The event in words, for people. */
  message: string;
  fields?: Readonly<Record<string, LogField>>;
}

/** Where a component's log entries go. */
export type LogSink = (entry: LogEntry) => void;

/** Fields every line has: an event's own fields never replace them. */
const FIXED_FIELDS = new Set(['time', 'level', 'event', 'message']);

/** The entry as one line (no newline), stamped with `time`. */
export function formatLogLine(entry: LogEntry, format: LogFormat, time = new Date()): string {
  if (format === 'text') return `${time.toISOString()} ${entry.level} ${entry.event}: ${entry.message}`;
  const record: Record<string, LogField> = { time: time.toISOString(), level: entry.level, event: entry.event, message: entry.message };
  if (entry.fields !== undefined) {
    for (const [name, value] of Object.entries(entry.fields)) {
      if (!FIXED_FIELDS.has(name)) record[name] = value;
    }
  }
  return JSON.stringify(record);
}

/** The default writer: debug and info lines to stdout, warnings and errors to stderr. */
export function writeToConsole(line: string, level: LogLevel): void {
  (level === 'warn' || level === 'error' ? process.stderr : process.stdout).write(`${line}\n`);
}

export interface LoggerOptions {
  format?: LogFormat;
  /** Entries below this level are not written. */
  level?: LogLevel;
  /** Takes each formatted line (no newline); writeToConsole when unset. */
  write?: (line: string, level: LogLevel) => void;
}

export class Logger {
  readonly format: LogFormat;
  readonly level: LogLevel;
  readonly #lowest: number;
  readonly #write: (line: string, level: LogLevel) => void;

  constructor(options: LoggerOptions = {}) {
    this.format = options.format ?? 'text';
    this.level = options.level ?? 'info';
    this.#lowest = LOG_LEVELS.indexOf(this.level);
    this.#write = options.write ?? writeToConsole;
  }

  /** Writes `entry` if its level is at or above the logger's. */
  log(entry: LogEntry): void {
    if (LOG_LEVELS.indexOf(entry.level) < this.#lowest) return;
    this.#write(formatLogLine(entry, this.format), entry.level);
  }

  /** This logger as a sink to hand to a component. */
  get sink(): LogSink {
    return (entry) => this.log(entry);
  }
}
