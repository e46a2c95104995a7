/**
 * The Sec-WebSocket-Extensions header (RFC 6455 §9.1, §11.3.2): its grammar, parsed into the
 * client's offers in the client's order. A pure function: header value in, offers out.
 *
 *   extension-list  = 1#extension
 *   extension       = extension-token *( ";" extension-param )
 *   extension-param = token [ "=" (token | quoted-string) ]
 *
 * A quoted-string value, once unescaped, must itself be a token (§9.1).
 */
import { HandshakeError } from '../protocol/errors.js';
import { isToken } from './subprotocols.js';

export interface ExtensionParam {
  name: string;
  /** undefined for a parameter given without "=value". */
  value: string | undefined;
}

/** One element of the list: an extension name and its parameters, in order (duplicates kept). */
export interface ExtensionOffer {
  name: string;
  params: ExtensionParam[];
}

/**
 * Parses a Sec-WebSocket-Extensions value. Whitespace around separators and empty list elements
 * (RFC 7230 §7) are allowed; anything else off the grammar is a malformed request: HandshakeError 400.
 */
export function parseExtensionHeader(value: string): ExtensionOffer[] {
  const reader = new HeaderReader(value);
  const offers: ExtensionOffer[] = [];
  for (;;) {
    reader.skipSpace();
    if (reader.done) return offers;
    if (reader.take(',')) continue; // an empty list element
    const offer: ExtensionOffer = { name: reader.token(), params: [] };
    offers.push(offer);
    reader.skipSpace();
    while (reader.take(';')) {
      reader.skipSpace();
      const name = reader.token();
      reader.skipSpace();
      let paramValue: string | undefined;
      if (reader.take('=')) {
        reader.skipSpace();
        paramValue = reader.peek('"') ? reader.quotedToken() : reader.token();
        reader.skipSpace();
      }
      offer.params.push({ name, value: paramValue });
    }
    if (!reader.done && !reader.take(',')) reader.fail();
  }
}

/** A cursor over the header value; every failure is the same 400. */
class HeaderReader {
  #at = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.#at >= this.text.length;
  }

  peek(char: string): boolean {
    return this.text[this.#at] === char;
  }

  take(char: string): boolean {
    if (!this.peek(char)) return false;
    this.#at++;
    return true;
  }

  skipSpace(): void {
    while (this.peek(' ') || this.peek('\t')) this.#at++;
  }

  token(): string {
    const start = this.#at;
    while (!this.done && isToken(this.text[this.#at])) this.#at++;
    if (this.#at === start) this.fail();
    return this.text.slice(start, this.#at);
  }

  /** quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 7230 §3.2.6), unescaped. */
  quotedToken(): string {
    this.#at++; // the opening quote
    let unescaped = '';
    while (!this.done && !this.peek('"')) {
      if (this.take('\\') && this.done) break;
      unescaped += this.text[this.#at++];
    }
    if (!this.take('"') || !isToken(unescaped)) this.fail();
    return unescaped;
  }

  fail(): never {
    const at = this.done ? 'at its end' : `at offset ${this.#at} (${JSON.stringify(this.text[this.#at])})`;
    throw new HandshakeError(400, `Sec-WebSocket-Extensions is malformed ${at}`);
  }
}
