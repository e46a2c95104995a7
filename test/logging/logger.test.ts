import test from 'ava';
import { formatLogLine, Logger, type LogEntry, type LogLevel } from '../../src/logging/logger.js';

const TIME = new Date('2026-12-05T06:40:00.123Z');
const entry: LogEntry = {
  level: 'error', event: 'worker_replaced', message: 'worker 1 died: exit 3; replacing it',
  fields: { worker: 1, reason: 'exit 3', level: 'not this one', time: 'nor this' },
};

test('a JSON line has time, level, event and message first, then the event\'s own fields, which cannot replace them', (t) => {
  const line = formatLogLine(entry, 'json', TIME);
  t.false(line.includes('\n'));
  const parsed = JSON.parse(line) as Record<string, unknown>;
  t.deepEqual(Object.keys(parsed), ['time', 'level', 'event', 'message', 'worker', 'reason']);
  t.like(parsed, { time: '2026-12-05T06:40:00.123Z', level: 'error', event: 'worker_replaced', worker: 1, reason: 'exit 3' });
});

test('a text line is time, level, event and the message', (t) => {
  t.is(formatLogLine(entry, 'text', TIME), '2026-12-05T06:40:00.123Z error worker_replaced: worker 1 died: exit 3; replacing it');
});

test('entries below the logger\'s level are not written; the rest go to its writer with their level', (t) => {
  const written: [string, LogLevel][] = [];
  const logger = new Logger({ format: 'json', level: 'warn', write: (line, level) => written.push([line, level]) });
  for (const level of ['debug', 'info', 'warn', 'error'] as const) logger.log({ level, event: 'probe', message: level });
  t.deepEqual(written.map(([line, level]) => [(JSON.parse(line) as { message: string }).message, level]), [['warn', 'warn'], ['error', 'error']]);
});
