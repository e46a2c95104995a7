/**
 * Sec-WebSocket-Protocol negotiation (RFC 6455 §4.2.2 step 5.4, §11.3.4).
 * Pure functions: header value in, chosen subprotocol out.
 */
import { HandshakeError } from '../protocol/errors.js';

// RFC 7230 §3.2.6: token = 1*tchar; tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
// "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** True when `value` is an RFC 7230 token (the grammar of a subprotocol name). */
export function isToken(value: string): boolean {
  return TOKEN.test(value);
}

/**
 * Parses a Sec-WebSocket-Protocol value, `1#token` (RFC 6455 §11.3.4), into the client's offers
 * in the client's order. Spaces around elements are trimmed; empty list elements are ignored
 * (RFC 7230 §7). Throws HandshakeError 400 for a non-token element or a value with no token.
 */
export function parseSubprotocols(offer: string): string[] {
  const offers: string[] = [];
  for (const element of offer.split(',')) {
    const name = element.trim();
    if (name === '') continue;
    if (!isToken(name)) {
      throw new HandshakeError(400, `Sec-WebSocket-Protocol has an invalid token: ${JSON.stringify(name)}`);
    }
    offers.push(name);
  }
  if (offers.length === 0) {
    throw new HandshakeError(400, 'Sec-WebSocket-Protocol must list at least one token');
  }
  return offers;
}

/**
 * Chooses the subprotocol: the first of the client's offers (in the client's order of preference)
 * that the server supports; `undefined` when the client offered none or none matched, in which
 * case the response carries no Sec-WebSocket-Protocol header (RFC 6455 §4.2.2).
 * A server that names no subprotocols takes the client's first offer, as `ws` does: a browser
 * fails a connection whose offer the server answers with none (`new WebSocket(url, ['chat'])`).
 * Names compare exactly (case-sensitive), as the RFC does not fold case for them.
 * Throws HandshakeError 400 for a malformed offer.
 */
export function negotiateSubprotocol(offer: string | undefined, serverList: readonly string[]): string | undefined {
  if (offer === undefined) return undefined;
  const offers = parseSubprotocols(offer);
  if (serverList.length === 0) return offers[0];
  return offers.find((name) => serverList.includes(name));
}
