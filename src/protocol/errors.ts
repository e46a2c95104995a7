/**
 * The two error kinds that cross layer boundaries. Each carries the answer the peer gets:
 * a close code (after the handshake) or an HTTP status (during it).
 */
import { CloseCode } from './close-codes.js';

/** A violation of RFC 6455 found in received bytes; the connection closes with `closeCode`. */
export class ProtocolError extends Error {
  constructor(readonly closeCode: number, readonly code: string, message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** RFC 6455 §8.1: a text message that is not UTF-8 fails the connection with 1007. */
export function invalidUtf8(): ProtocolError {
  return new ProtocolError(CloseCode.INVALID_PAYLOAD, 'WS_ERR_INVALID_UTF8', 'invalid UTF-8 in a text message');
}

/** An opening handshake that is refused; the client gets HTTP `status` and `reason`. */
export class HandshakeError extends Error {
  constructor(readonly status: number, readonly reason: string, readonly headers: Record<string, string> = {}) {
    super(reason);
    this.name = 'HandshakeError';
  }
}
