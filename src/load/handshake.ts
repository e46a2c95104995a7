/**
 * The client side of the opening handshake (RFC 6455 §4.1), sans-I/O: the request bytes, and a
 * check of the response head that names what was wrong in a stable error kind.
 */
import { randomBytes } from 'node:crypto';
import { computeAccept } from '../handshake/handshake.js';
import type { LoadTarget } from './options.js';

/** Response heads larger than this are refused (a server that never ends its headers). */
export const MAX_RESPONSE_HEAD_BYTES = 16 * 1024;

export interface ClientHandshake {
  request: Buffer;
  /** The Sec-WebSocket-Accept value a conforming server answers with. */
  expectedAccept: string;
}

/**
 * RFC 6455 §4.1: a GET with a fresh random 16-byte Sec-WebSocket-Key, version 13, and the
 * extensions offered (§9.1), if any.
 */
export function createClientHandshake(target: LoadTarget, extensions?: string): ClientHandshake {
  const key = randomBytes(16).toString('base64');
  const request = `GET ${target.path} HTTP/1.1\r\n` +
    `Host: ${target.hostHeader}\r\n` +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${key}\r\n` +
    'Sec-WebSocket-Version: 13\r\n' +
    (extensions === undefined ? '' : `Sec-WebSocket-Extensions: ${extensions}\r\n`) + '\r\n';
  return { request: Buffer.from(request, 'latin1'), expectedAccept: computeAccept(key) };
}

/** Index just past the blank line ending the response head, or -1 while it is incomplete. */
export function findHeadEnd(bytes: Buffer): number {
  const end = bytes.indexOf('\r\n\r\n', 0, 'latin1');
  return end < 0 ? -1 : end + 4;
}

/**
 * Checks a complete response head (RFC 6455 §4.1, the client's steps 1-4 on the response).
 * Returns undefined when the connection is established, else the error kind: `status NNN`
 * for any status other than 101, `bad-response` for malformed HTTP, `bad-upgrade` for
 * missing Upgrade/Connection tokens, `bad-accept` for a wrong Sec-WebSocket-Accept.
 */
export function checkResponseHead(head: string, expectedAccept: string): string | undefined {
  const lines = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0]);
  if (status === null) return 'bad-response';
  if (status[1] !== '101') return `status ${status[1]}`;
  let upgrade = '', connection = '', accept = '';
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    if (colon <= 0) continue;
    const name = lines[i].slice(0, colon).trim().toLowerCase();
    const value = lines[i].slice(colon + 1).trim();
    if (name === 'upgrade') upgrade = value;
    else if (name === 'connection') connection = connection === '' ? value : `${connection}, ${value}`;
    else if (name === 'sec-websocket-accept') accept = value;
  }
  if (upgrade.toLowerCase() !== 'websocket') return 'bad-upgrade';
  if (!connection.split(',').some((token) => token.trim().toLowerCase() === 'upgrade')) return 'bad-upgrade';
  if (accept !== expectedAccept) return 'bad-accept';
  return undefined;
}

/**
 * The value of a response header, its repeated fields joined with ", " (RFC 7230 §3.2.2),
 * or undefined when absent. `name` in lower case.
 */
export function responseHeader(head: string, name: string): string | undefined {
  let value: string | undefined;
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0 || line.slice(0, colon).trim().toLowerCase() !== name) continue;
    const field = line.slice(colon + 1).trim();
    value = value === undefined ? field : `${value}, ${field}`;
  }
  return value;
}
