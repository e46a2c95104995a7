/**
 * What kind of server is at the URL, asked with one connection before the run: the default
 * scenario (echo) follows it when the server is wasmsocket's pub/sub app, so the first run of a
 * newcomer against `npm start` measures deliveries instead of counting 100% echo mismatches.
 */
import { createCodec } from '../codec/select.js';
import type { LoadTarget } from './options.js';
import { LoadConnection, type ConnectionEvents } from './connection.js';

export type ServerKind = 'echo' | 'pubsub' | 'unknown';

/** The probe's message: text that is not JSON, as the echo scenario's messages are not. */
const PROBE_TEXT = 'wasmsocket load probe';
const CLOSE_WAIT_MS = 1000;

/**
 * The pub/sub app answers a message that is not JSON with {"type":"error","code":"bad_json"}:
 * that answer, and only that, says the broadcast scenario speaks this server's protocol.
 */
export function classifyReply(reply: string): ServerKind {
  if (reply === PROBE_TEXT) return 'echo';
  try {
    const message = JSON.parse(reply) as { type?: unknown; code?: unknown };
    if (message.type === 'error' && message.code === 'bad_json') return 'pubsub';
  } catch {
    // not JSON: some other protocol
  }
  return 'unknown';
}

/** Opens one connection, sends one text message, classifies the first answer; 'unknown' on any failure. */
export function probeServer(target: LoadTarget, timeoutMs: number, localAddress?: string): Promise<ServerKind> {
  return new Promise((resolve) => {
    let kind: ServerKind = 'unknown';
    let settled = false;
    const settle = (conn: LoadConnection) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.close();
      // The server closes TCP after our close frame (RFC 6455 §7.1.1); one that does not is dropped.
      setTimeout(() => conn.destroy(), CLOSE_WAIT_MS).unref();
    };
    const events: ConnectionEvents = {
      opened: (conn) => conn.sendText(PROBE_TEXT),
      message: (conn, data, isBinary) => {
        if (!isBinary) kind = classifyReply(data.toString('utf8'));
        settle(conn);
      },
      ended: () => {
        settled = true;
        clearTimeout(timer);
        resolve(kind);
      },
    };
    const conn = new LoadConnection(-1, { target, codec: createCodec('js'), handshakeTimeoutMs: timeoutMs, localAddress }, events);
    const timer = setTimeout(() => settle(conn), timeoutMs);
    // A connection still connecting at the timeout is abandoned by close(): ended follows.
  });
}
