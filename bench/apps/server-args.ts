/**
 * The few flags every benchmark-only server takes (`--host`, `--port`, `--deflate` for
 * permessage-deflate, `--cert FILE --key FILE` for wss://), the line it prints once
 * it listens (the harness waits for the port itself; the line is for people), and a clean exit
 * on SIGINT/SIGTERM. Kept tiny: these servers exist only to be measured against.
 */
import { parseArgs } from 'node:util';

export interface ServerArgs {
  host: string;
  port: number;
  /** Offer permessage-deflate, set up like wasmsocket's defaults (see each app). */
  deflate: boolean;
  /** PEM file paths: serve wss://. */
  tls?: { cert: string; key: string };
}

export function parseServerArgs(argv: string[] = process.argv.slice(2)): ServerArgs {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { host: { type: 'string' }, port: { type: 'string' }, deflate: { type: 'boolean' }, cert: { type: 'string' }, key: { type: 'string' } },
  });
  if ((values.cert === undefined) !== (values.key === undefined)) throw new TypeError('--cert and --key go together');
  const port = Number(values.port ?? '8080');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`--port must be 0-65535, got ${values.port}`);
  return {
    host: values.host ?? '127.0.0.1', port, deflate: values.deflate === true,
    tls: values.cert === undefined ? undefined : { cert: values.cert, key: values.key! },
  };
}

export function announce(name: string, host: string, port: number, details = '', secure = false): void {
  console.log(`${name} listening on ${secure ? 'wss' : 'ws'}://${host}:${port}/${details === '' ? '' : ` (${details})`}`);
}

/** Exits 0 on SIGINT/SIGTERM after `close` (bounded: the harness kills after a few seconds anyway). */
export function exitOnSignal(close: () => void): void {
  const stop = () => {
    try {
      close();
    } finally {
      setTimeout(() => process.exit(0), 200).unref();
    }
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
