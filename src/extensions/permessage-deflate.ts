/**
 * permessage-deflate negotiation, server side (RFC 7692 §5, §7, §7.1): the client's offers in,
 * the response's extension element and what it agrees to out. A pure function of the parsed
 * Sec-WebSocket-Extensions offers and the server's settings.
 */
import type { NegotiatedDeflate } from '../protocol/compression.js';
import type { DeflateSettings } from './deflate-options.js';

export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/** One offer as the header parser gives it: a name and its parameters in order, duplicates kept. */
export interface ExtensionElement {
  name: string;
  params: readonly { name: string; value: string | undefined }[];
}

export interface DeflateAgreement {
  /** The Sec-WebSocket-Extensions value of the 101 response. */
  response: string;
  negotiated: NegotiatedDeflate;
}

/** One valid permessage-deflate offer (§7.1). */
export interface DeflateOffer {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** §7.1.2.1: always with a value. */
  serverMaxWindowBits: number | undefined;
  /** §7.1.2.2: `true` when offered without a value ("any value, your choice"). */
  clientMaxWindowBits: number | true | undefined;
}

/** The largest window, the one in use when nothing limits it (§7.1.2). */
const MAX_WINDOW_BITS = 15;

/**
 * §5: the client lists its offers in order of preference; the server accepts the first one it
 * can (other extensions are not ours and are passed over). Undefined declines them all: the
 * response then names no extension, and no RSV bit is allowed.
 */
export function negotiatePerMessageDeflate(offers: readonly ExtensionElement[], settings: DeflateSettings): DeflateAgreement | undefined {
  for (const element of offers) {
    if (element.name !== PERMESSAGE_DEFLATE) continue;
    const offer = readOffer(element.params);
    const agreement = offer === undefined ? undefined : acceptOffer(offer, settings);
    if (agreement !== undefined) return agreement;
  }
  return undefined;
}

/**
 * §7: an offer's parameters, or undefined when the server must decline the offer: "an extension
 * parameter not defined for use in an offer", "an extension parameter with an invalid value",
 * or "multiple extension parameters with the same name".
 */
export function readOffer(params: ExtensionElement['params']): DeflateOffer | undefined {
  const offer: DeflateOffer = {
    serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: undefined, clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const { name, value } of params) {
    if (seen.has(name)) return undefined;
    seen.add(name);
    switch (name) {
      // §7.1.1.1, §7.1.1.2: these two have no value.
      case 'server_no_context_takeover':
        if (value !== undefined) return undefined;
        offer.serverNoContextTakeover = true;
        break;
      case 'client_no_context_takeover':
        if (value !== undefined) return undefined;
        offer.clientNoContextTakeover = true;
        break;
      // §7.1.2.1: in an offer, server_max_window_bits always has a value.
      case 'server_max_window_bits': {
        const bits = windowBits(value);
        if (bits === undefined) return undefined;
        offer.serverMaxWindowBits = bits;
        break;
      }
      // §7.1.2.2: client_max_window_bits may come without a value.
      case 'client_max_window_bits': {
        const bits = value === undefined ? true : windowBits(value);
        if (bits === undefined) return undefined;
        offer.clientMaxWindowBits = bits;
        break;
      }
      default:
        return undefined;
    }
  }
  return offer;
}

/**
 * The response to a valid offer, or undefined when the server does not support the offered
 * configuration (§7): a server limited to a client window under 2^15 cannot accept an offer
 * without client_max_window_bits, since its response may not limit the client then (§7.1.2.2).
 */
export function acceptOffer(offer: DeflateOffer, settings: DeflateSettings): DeflateAgreement | undefined {
  if (offer.clientMaxWindowBits === undefined && settings.clientMaxWindowBits < MAX_WINDOW_BITS) return undefined;
  // §7.1.1.1: accepted by including it; the server may also include it unasked.
  const serverNoContextTakeover = offer.serverNoContextTakeover || settings.serverNoContextTakeover;
  // §7.1.1.2: the server may include it whether the client hinted at it or not.
  const clientNoContextTakeover = offer.clientNoContextTakeover || settings.clientNoContextTakeover;
  // §7.1.2.1: accepted with the same or a smaller value; the server may also limit itself unasked.
  const serverBits = Math.min(offer.serverMaxWindowBits ?? MAX_WINDOW_BITS, settings.serverMaxWindowBits);
  // §7.1.2.2: answered only when offered, with no more than an offered value.
  const clientOffered = offer.clientMaxWindowBits === true ? MAX_WINDOW_BITS : offer.clientMaxWindowBits;
  const clientBits = clientOffered === undefined ? MAX_WINDOW_BITS : Math.min(clientOffered, settings.clientMaxWindowBits);

  const params = [PERMESSAGE_DEFLATE];
  if (serverNoContextTakeover) params.push('server_no_context_takeover');
  if (clientNoContextTakeover) params.push('client_no_context_takeover');
  if (offer.serverMaxWindowBits !== undefined || serverBits < MAX_WINDOW_BITS) params.push(`server_max_window_bits=${serverBits}`);
  if (typeof offer.clientMaxWindowBits === 'number' || (offer.clientMaxWindowBits === true && clientBits < MAX_WINDOW_BITS)) {
    params.push(`client_max_window_bits=${clientBits}`);
  }
  return {
    response: params.join('; '),
    negotiated: {
      send: { windowBits: serverBits, noContextTakeover: serverNoContextTakeover },
      receive: { windowBits: clientBits, noContextTakeover: clientNoContextTakeover },
    },
  };
}

/** §7.1.2.1: "a decimal integer value without leading zeroes between 8 and 15, inclusive". */
function windowBits(value: string | undefined): number | undefined {
  return value !== undefined && /^(?:[89]|1[0-5])$/.test(value) ? Number(value) : undefined;
}
