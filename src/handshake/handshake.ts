/**
 * The server side of the RFC 6455 opening handshake (§4.2), with no sockets: a parsed HTTP request
 * goes in, the 101 response (or a HandshakeError that `rejectionResponse` turns into HTTP) comes out.
 */
import { createHash } from 'node:crypto';
import { STATUS_CODES, type IncomingHttpHeaders } from 'node:http';
import { HandshakeError } from '../protocol/errors.js';
import type { NegotiatedDeflate } from '../protocol/compression.js';
import type { DeflateSettings } from '../extensions/deflate-options.js';
import { negotiatePerMessageDeflate } from '../extensions/permessage-deflate.js';
import { isOriginAllowed } from './origin.js';
import { negotiateSubprotocol } from './subprotocols.js';
import { parseExtensionHeader } from './extension-header.js';

export { HandshakeError } from '../protocol/errors.js';
export { isOriginAllowed } from './origin.js';
export { isToken, negotiateSubprotocol, parseSubprotocols } from './subprotocols.js';
export { parseExtensionHeader } from './extension-header.js';

/**
 * The parts of an HTTP request the handshake reads. A node:http IncomingMessage fits as is, which
 * is why `method` and `url` are optional here: node:http types them so (they are set for requests).
 */
export interface HandshakeRequest {
  method?: string;
  /** As node:http reports it: "1.1", "1.0", "2.0". */
  httpVersion: string;
  url?: string;
  /** Lower-cased header names, as node:http delivers them. */
  headers: IncomingHttpHeaders;
  /** Names and values as received, alternating (node:http's rawHeaders): duplicates are kept. */
  rawHeaders?: readonly string[];
}

export interface HandshakeOptions {
  /** Subprotocols the server speaks; the client's first supported offer is chosen (with none, its first offer). */
  subprotocols?: readonly string[];
  /** Allowed serialized origins (`https://example.com`); empty or undefined allows any. */
  origins?: readonly string[];
  /** permessage-deflate settings when the server compresses (RFC 7692); undefined: no extension. */
  deflate?: DeflateSettings;
}

export interface HandshakeAccept {
  /** The Sec-WebSocket-Accept value. */
  accept: string;
  /** The chosen subprotocol, or undefined when none was offered or none matched. */
  protocol: string | undefined;
  /** permessage-deflate as agreed, or undefined when not offered, declined or not enabled. */
  deflate: NegotiatedDeflate | undefined;
  /** The complete 101 response, ending with the blank line. */
  response: string;
}

/** RFC 6455 §1.3: the GUID appended to Sec-WebSocket-Key before hashing. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

// RFC 6455 §4.1: the key is a base64-encoded 16-byte nonce, which is always 22 characters and "==".
const KEY_PATTERN = /^[A-Za-z0-9+/]{22}==$/;

/** Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2 step 5.4). */
export function computeAccept(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

/**
 * RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
 * request message that lacks a Host header field and to any request message that contains more
 * than one Host header field". node:http keeps the first of several and drops the rest from
 * `headers`, so they are counted in `rawHeaders`.
 */
export function duplicateHostError(req: Pick<HandshakeRequest, 'rawHeaders'>): HandshakeError | undefined {
  const raw = req.rawHeaders;
  if (raw === undefined) return undefined;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host' && ++hosts > 1) {
      return new HandshakeError(400, 'more than one Host header field (RFC 9112 §3.2)');
    }
  }
  return undefined;
}

/**
 * Validates an upgrade request against RFC 6455 §4.2.1 and the server's policy, and builds the
 * 101 response. Throws HandshakeError with the HTTP status to answer with:
 * 405 (not GET), 400 (HTTP < 1.1, Upgrade/Connection/Sec-WebSocket-Key/Sec-WebSocket-Protocol
 * malformed, Sec-WebSocket-Extensions malformed while deflate is on), 426 (Sec-WebSocket-Version
 * not 13), 403 (Origin not allowed). Without `deflate`, Sec-WebSocket-Extensions is not read:
 * the server speaks no extension, so it accepts none (§9.1).
 */
export function validateUpgrade(req: HandshakeRequest, options: HandshakeOptions = {}): HandshakeAccept {
  const { headers } = req;

  // §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
  if (req.method !== 'GET') {
    throw new HandshakeError(405, 'WebSocket upgrade requires the GET method', { Allow: 'GET' });
  }
  // HTTP/1.x only: HTTP/2 has no Upgrade (RFC 7540 §8.1.1; WebSockets there use RFC 8441's
  // CONNECT), so a request line that claims HTTP/2.0 is no upgrade we can honour.
  if (!speaksHttp11(req.httpVersion)) {
    throw new HandshakeError(400, 'WebSocket upgrade requires HTTP/1.1');
  }
  // §4.2.1 item 2: "A |Host| header field containing the server's authority."
  if (headerValue(headers.host) === undefined || headerValue(headers.host) === '') {
    throw new HandshakeError(400, 'WebSocket upgrade requires a Host header');
  }
  const hostError = duplicateHostError(req);
  if (hostError !== undefined) throw hostError;

  // §4.2.1 items 3 and 4: Upgrade includes "websocket", Connection includes "Upgrade",
  // both case-insensitive tokens in comma-separated lists (RFC 7230 §6.1, §6.7).
  if (!hasToken(headers.upgrade, 'websocket')) {
    throw new HandshakeError(400, 'Upgrade header must include the token "websocket"');
  }
  if (!hasToken(headers.connection, 'upgrade')) {
    throw new HandshakeError(400, 'Connection header must include the token "Upgrade"');
  }

  // §4.2.1 item 6 and §4.4: an unsupported version is answered with 426 and the versions we speak.
  const version = headerValue(headers['sec-websocket-version']);
  if (version !== '13') {
    throw new HandshakeError(426, 'Sec-WebSocket-Version must be 13', { 'Sec-WebSocket-Version': '13' });
  }

  // §4.2.1 item 5: a base64-encoded value that decodes to 16 bytes.
  const key = headerValue(headers['sec-websocket-key']);
  if (key === undefined) {
    throw new HandshakeError(400, 'Sec-WebSocket-Key is missing');
  }
  if (!KEY_PATTERN.test(key)) {
    throw new HandshakeError(400, 'Sec-WebSocket-Key must be base64 of 16 bytes');
  }

  // §4.2.2 step 4 and §10.2: the server may refuse origins it does not trust.
  if (!isOriginAllowed(headerValue(headers.origin), options.origins)) {
    throw new HandshakeError(403, 'Origin is not allowed');
  }

  // §4.2.2 step 5.4: at most one of the offered subprotocols, echoed back.
  const protocol = negotiateSubprotocol(headerValue(headers['sec-websocket-protocol']), options.subprotocols ?? []);

  // §9.1 and RFC 7692 §5: the first permessage-deflate offer the server accepts, if any.
  const extensions = headerValue(headers['sec-websocket-extensions']);
  const agreement = options.deflate === undefined || extensions === undefined
    ? undefined
    : negotiatePerMessageDeflate(parseExtensionHeader(extensions), options.deflate);

  const accept = computeAccept(key);
  let response =
    'HTTP/1.1 101 Switching Protocols\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${accept}\r\n`;
  if (protocol !== undefined) response += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
  if (agreement !== undefined) response += `Sec-WebSocket-Extensions: ${agreement.response}\r\n`;
  response += '\r\n';
  return { accept, protocol, deflate: agreement?.negotiated, response };
}

/**
 * The HTTP response for a rejected handshake: status line, `Connection: close`, a plain-text body
 * carrying the reason, and the error's extra headers (e.g. `Allow`, `Sec-WebSocket-Version`).
 */
export function rejectionResponse(err: HandshakeError): string {
  const body = stripControl(err.reason);
  let head =
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? 'Unknown'}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: text/plain\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  for (const [name, value] of Object.entries(err.headers)) {
    // Names and values come from our code or an authorize hook: CR/LF would split the response.
    head += `${stripControl(name)}: ${stripControl(value)}\r\n`;
  }
  return head + '\r\n' + body;
}

/** One header value: node:http joins most repeated headers with ", "; join any array likewise. */
function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** True when a comma-separated header list contains `token` (compared case-insensitively). */
function hasToken(value: string | string[] | undefined, token: string): boolean {
  const list = headerValue(value);
  if (list === undefined) return false;
  return list.split(',').some((element) => element.trim().toLowerCase() === token);
}

/** 1.1 or a later 1.x: the versions that have the Upgrade mechanism (RFC 7230 §6.7). */
function speaksHttp11(httpVersion: string): boolean {
  const match = /^1\.(\d+)$/.exec(httpVersion);
  return match !== null && Number(match[1]) >= 1;
}

function stripControl(text: string): string {
  return text.replace(/[\r\n\0]/g, ' ');
}
