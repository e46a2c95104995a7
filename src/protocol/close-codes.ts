/** Close status codes, RFC 6455 §7.4.1, and the rule for which may appear on the wire. */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  NO_STATUS: 1005, // never sent: stands for "the close frame had no code"
  ABNORMAL: 1006, // never sent: stands for "the TCP connection dropped without a close frame"
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  MANDATORY_EXTENSION: 1010,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  BAD_GATEWAY: 1014,
  TLS_HANDSHAKE: 1015, // never sent
} as const;

/**
 * RFC 6455 §7.4: codes a peer may send in a close frame. 1000-1003 and 1007-1014 are defined
 * (IANA registry); 3000-4999 belong to libraries and applications. 1004-1006, 1015 and every
 * other value below 3000 are invalid on the wire.
 */
export function isValidWireCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}
