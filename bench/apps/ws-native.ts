/**
 * Loads `ws` with or without its native helpers. `ws` reads `WS_NO_BUFFER_UTIL` when it is first
 * required, so the choice has to be made before the import. On Node ≥ 18.14 `ws` validates UTF-8
 * with `buffer.isUtf8` and never loads `utf-8-validate` (ws/lib/validation.js); we report what
 * was really loaded rather than what was asked for.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface LoadedWs {
  WebSocketServer: typeof import('ws').WebSocketServer;
  WebSocket: typeof import('ws').WebSocket;
  /** e.g. "bufferutil: yes, utf-8-validate: no (buffer.isUtf8)" */
  natives: string;
}

export function loadWs(native: boolean): LoadedWs {
  if (!native) {
    process.env.WS_NO_BUFFER_UTIL = '1';
    process.env.WS_NO_UTF_8_VALIDATE = '1';
  } else {
    delete process.env.WS_NO_BUFFER_UTIL;
    delete process.env.WS_NO_UTF_8_VALIDATE;
  }
  const ws = require('ws') as typeof import('ws');
  const loaded = Object.keys(require.cache);
  const has = (name: string) => loaded.some((path) => path.includes(`/node_modules/${name}/`));
  const natives = `bufferutil: ${has('bufferutil') ? 'yes' : 'no'}, utf-8-validate: ${has('utf-8-validate') ? 'yes' : 'no (buffer.isUtf8)'}`;
  return { WebSocketServer: ws.WebSocketServer, WebSocket: ws.WebSocket, natives };
}

/** `--native` on the command line: ws + bufferutil (+ utf-8-validate when ws would use it). */
export function nativeRequested(argv: string[]): boolean {
  return argv.includes('--native');
}

/**
 * `--deflate`: permessage-deflate set up as wasmsocket's defaults are (src/extensions/deflate-options.ts):
 * messages from 1 KiB compressed, zlib level 6 and memLevel 8, no context takeover either way.
 */
export const WS_DEFLATE = {
  threshold: 1024,
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  zlibDeflateOptions: { level: 6, memLevel: 8 },
} as const;

/**
 * The `ws` server for the benchmark's flags: on its own port, or on an HTTPS server for
 * `--cert/--key` (wss://). Resolves once it listens.
 */
export async function startWsServer(WebSocketServer: LoadedWs['WebSocketServer'], args: { host: string; port: number; deflate: boolean; tls?: { cert: string; key: string } }) {
  const common = { perMessageDeflate: args.deflate ? WS_DEFLATE : false, maxPayload: 16 * 1024 * 1024, clientTracking: false };
  if (args.tls === undefined) {
    const server = new WebSocketServer({ host: args.host, port: args.port, ...common });
    await new Promise((resolve) => server.once('listening', resolve));
    return { server, close: () => server.close() };
  }
  const { readFileSync } = await import('node:fs');
  const { createServer } = await import('node:https');
  const https = createServer({ cert: readFileSync(args.tls.cert), key: readFileSync(args.tls.key) });
  const server = new WebSocketServer({ server: https, ...common });
  await new Promise<void>((resolve) => https.listen(args.port, args.host, resolve));
  return { server, close: () => { server.close(); https.close(); } };
}
