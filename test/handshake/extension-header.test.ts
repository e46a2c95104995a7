/**
 * The Sec-WebSocket-Extensions grammar (RFC 6455 §9.1) and its place in the handshake: parsed
 * only when the server compresses, a malformed value is a 400, the 101 carries the agreement.
 */
import test from 'ava';
import { HandshakeError, parseExtensionHeader, validateUpgrade, type HandshakeRequest } from '../../src/handshake/handshake.js';
import { DEFLATE_DEFAULTS } from '../../src/extensions/deflate-options.js';

test('offers, parameters and values are read in order, duplicates kept', (t) => {
  t.deepEqual(parseExtensionHeader('permessage-deflate; client_max_window_bits; server_max_window_bits=10, foo, permessage-deflate'), [
    { name: 'permessage-deflate', params: [{ name: 'client_max_window_bits', value: undefined }, { name: 'server_max_window_bits', value: '10' }] },
    { name: 'foo', params: [] },
    { name: 'permessage-deflate', params: [] },
  ]);
  t.deepEqual(parseExtensionHeader('a; x; x=1'), [{ name: 'a', params: [{ name: 'x', value: undefined }, { name: 'x', value: '1' }] }]);
});

test('whitespace around separators and empty list elements are allowed', (t) => {
  t.deepEqual(parseExtensionHeader(' \tpermessage-deflate ;\tserver_max_window_bits = 9 , , ,foo ;bar '), [
    { name: 'permessage-deflate', params: [{ name: 'server_max_window_bits', value: '9' }] },
    { name: 'foo', params: [{ name: 'bar', value: undefined }] },
  ]);
  t.deepEqual(parseExtensionHeader(''), []);
  t.deepEqual(parseExtensionHeader(' , '), []);
});

test('a quoted-string value is unescaped, and must then be a token', (t) => {
  t.deepEqual(parseExtensionHeader('a; b="10"')[0].params, [{ name: 'b', value: '10' }]);
  t.deepEqual(parseExtensionHeader('a; b="1\\0"')[0].params, [{ name: 'b', value: '10' }]);
});

test('values off the grammar are HandshakeError 400', (t) => {
  for (const header of ['permessage-deflate;', 'permessage-deflate; ;', ';a', 'a b', 'a=b', 'a; b=', 'a; b="', 'a; b="10',
    'a; b=""', 'a; b="1 0"', 'a; b="a,b"', 'a; b=c d', 'a; =1', 'perm\u00e9ssage', 'a; b=c"d"', 'a "b"', 'a; b="c"d']) {
    const error = t.throws(() => parseExtensionHeader(header), { instanceOf: HandshakeError }, header);
    t.is(error!.status, 400, header);
    t.regex(error!.reason, /^Sec-WebSocket-Extensions is malformed/);
  }
});

function upgrade(extensions: string | undefined): HandshakeRequest {
  return {
    method: 'GET', httpVersion: '1.1', url: '/',
    headers: {
      host: 'x', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13',
      ...(extensions === undefined ? {} : { 'sec-websocket-extensions': extensions }),
    },
  };
}

test('with deflate on, an accepted offer puts Sec-WebSocket-Extensions in the 101 and the agreement in the result', (t) => {
  const accepted = validateUpgrade(upgrade('permessage-deflate; client_max_window_bits'), { deflate: { ...DEFLATE_DEFAULTS } });
  t.regex(accepted.response, /\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n\r\n$/);
  t.deepEqual(accepted.deflate, { send: { windowBits: 15, noContextTakeover: true }, receive: { windowBits: 15, noContextTakeover: true } });
});

test('a declined or absent offer leaves the 101 without Sec-WebSocket-Extensions', (t) => {
  for (const header of [undefined, 'permessage-deflate; bogus', 'x-webkit-deflate-frame']) {
    const accepted = validateUpgrade(upgrade(header), { deflate: { ...DEFLATE_DEFAULTS } });
    t.notRegex(accepted.response, /Sec-WebSocket-Extensions/i, String(header));
    t.is(accepted.deflate, undefined);
  }
});

test('with deflate off the header is not read at all: offers are ignored, even malformed ones', (t) => {
  for (const header of ['permessage-deflate', 'permessage-deflate;;;']) {
    const accepted = validateUpgrade(upgrade(header));
    t.notRegex(accepted.response, /Sec-WebSocket-Extensions/i);
    t.is(accepted.deflate, undefined);
  }
});

test('with deflate on, a malformed header is refused with 400', (t) => {
  const error = t.throws(() => validateUpgrade(upgrade('permessage-deflate; server_max_window_bits="10'), { deflate: { ...DEFLATE_DEFAULTS } }),
    { instanceOf: HandshakeError });
  t.is(error!.status, 400);
});
