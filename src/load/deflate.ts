/**
 * permessage-deflate for the load generator, client side (RFC 7692 §5, §7): the offer it sends,
 * and the check of the server's answer, which a client must fail when it is not a valid answer to
 * that offer (§5.1, §7). The protocol (src/protocol/protocol.ts) does the compressing and the
 * inflating once it is given what was agreed; here only the handshake's part.
 */
import { parseExtensionHeader } from '../handshake/extension-header.js';
import { PERMESSAGE_DEFLATE, readOffer } from '../extensions/permessage-deflate.js';
import { DEFLATE_DEFAULTS } from '../extensions/deflate-options.js';
import type { CompressorSettings, NegotiatedDeflate, PerMessageDeflateConfig } from '../protocol/compression.js';

/** What `--deflate` asks for. Plain data: it crosses threads and processes in the shard plan. */
export interface ClientDeflateOffer {
  /** `--deflate-no-context-takeover`: ask both sides to reset their compressor after every message. */
  noContextTakeover: boolean;
}

/** The client's own compressor: the server's defaults (compress from 1 KiB, level 6). */
export const CLIENT_COMPRESSOR: Readonly<CompressorSettings> = {
  threshold: DEFLATE_DEFAULTS.threshold,
  maxCompressBytes: DEFLATE_DEFAULTS.maxCompressBytes,
  level: DEFLATE_DEFAULTS.level,
  memLevel: DEFLATE_DEFAULTS.memLevel,
};

const MAX_WINDOW_BITS = 15;

/**
 * The Sec-WebSocket-Extensions value of the request. client_max_window_bits without a value
 * (§7.1.2.2) tells the server it may limit our window; we compress with whatever it answers.
 */
export function deflateOfferHeader(offer: ClientDeflateOffer): string {
  const params = [PERMESSAGE_DEFLATE, 'client_max_window_bits'];
  if (offer.noContextTakeover) params.push('server_no_context_takeover', 'client_no_context_takeover');
  return params.join('; ');
}

/** The answer: agreed (with the protocol's config), declined (no extension in the 101), or invalid. */
export type DeflateAnswer =
  | { kind: 'agreed'; config: PerMessageDeflateConfig }
  | { kind: 'declined' }
  | { kind: 'invalid'; reason: string };

/**
 * Checks the response's Sec-WebSocket-Extensions (undefined when absent) against our offer.
 * Invalid, so the client fails the connection: an extension that was not offered (§5.1), a
 * parameter that is unknown, duplicated or has a bad value (§7, read as the server reads an
 * offer), or an offer accepted without a parameter it asked for (§7.1.1.1).
 */
export function readDeflateAnswer(value: string | undefined, offer: ClientDeflateOffer): DeflateAnswer {
  if (value === undefined || value.trim() === '') return { kind: 'declined' };
  let elements;
  try {
    elements = parseExtensionHeader(value);
  } catch {
    return { kind: 'invalid', reason: 'malformed Sec-WebSocket-Extensions' };
  }
  if (elements.length === 0) return { kind: 'declined' };
  // §5.1: only one permessage-deflate element was offered, so only one may come back.
  if (elements.length > 1 || elements[0].name !== PERMESSAGE_DEFLATE) {
    return { kind: 'invalid', reason: `extension not offered: ${value}` };
  }
  // The answer's parameters follow the offer's rules (§7: known, not repeated, valid values),
  // but for one: an answer's client_max_window_bits must carry a value (§7.1.2.2).
  const params = readOffer(elements[0].params);
  if (params === undefined || params.clientMaxWindowBits === true) {
    return { kind: 'invalid', reason: `parameters not valid in an answer: ${value}` };
  }
  // §7.1.1.1: we asked for server_no_context_takeover; a server that agrees must say so.
  if (offer.noContextTakeover && !params.serverNoContextTakeover) {
    return { kind: 'invalid', reason: 'server_no_context_takeover was asked for and not agreed' };
  }
  // The server's side is what we inflate with, ours what we compress with.
  const negotiated: NegotiatedDeflate = {
    send: { windowBits: params.clientMaxWindowBits ?? MAX_WINDOW_BITS, noContextTakeover: params.clientNoContextTakeover },
    receive: { windowBits: params.serverMaxWindowBits ?? MAX_WINDOW_BITS, noContextTakeover: params.serverNoContextTakeover },
  };
  return { kind: 'agreed', config: { negotiated, compressor: CLIENT_COMPRESSOR } };
}
