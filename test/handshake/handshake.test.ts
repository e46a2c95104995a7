import test from 'ava';
import type { IncomingHttpHeaders } from 'node:http';
import {
  computeAccept,
  HandshakeError,
  isOriginAllowed,
  negotiateSubprotocol,
  rejectionResponse,
  validateUpgrade,
  type HandshakeOptions,
  type HandshakeRequest,
} from '../../src/handshake/handshake.js';

// RFC 6455 §1.3 example.
const RFC_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

function request(headers: IncomingHttpHeaders = {}, overrides: Partial<HandshakeRequest> = {}): HandshakeRequest {
  return {
    method: 'GET',
    httpVersion: '1.1',
    url: '/chat',
    headers: {
      host: 'server.example.com',
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': RFC_KEY,
      'sec-websocket-version': '13',
      ...headers,
    },
    ...overrides,
  };
}

function rejection(req: HandshakeRequest, options: HandshakeOptions = {}): HandshakeError {
  const err = (() => {
    try {
      validateUpgrade(req, options);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  if (!(err instanceof HandshakeError)) throw new Error(`expected a HandshakeError, got ${String(err)}`);
  return err;
}

// --- Sec-WebSocket-Accept -------------------------------------------------------------------

test('computeAccept turns the RFC 6455 §1.3 example key into its example accept value', (t) => {
  t.is(computeAccept(RFC_KEY), RFC_ACCEPT);
});

test('a valid request is accepted with the 101 response and the accept value', (t) => {
  const result = validateUpgrade(request());
  t.is(result.accept, RFC_ACCEPT);
  t.is(result.protocol, undefined);
  t.is(
    result.response,
    'HTTP/1.1 101 Switching Protocols\r\n' +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${RFC_ACCEPT}\r\n` +
      '\r\n',
  );
});

test('the 101 response never offers extensions even when the client asks for permessage-deflate', (t) => {
  const result = validateUpgrade(request({ 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' }));
  t.false(/extensions/i.test(result.response));
});

// --- method and HTTP version ----------------------------------------------------------------

test('a POST upgrade is rejected with 405 and Allow: GET', (t) => {
  const err = rejection(request({}, { method: 'POST' }));
  t.is(err.status, 405);
  t.deepEqual(err.headers, { Allow: 'GET' });
});

test('an HTTP/1.0 upgrade is rejected with 400', (t) => {
  t.is(rejection(request({}, { httpVersion: '1.0' })).status, 400);
});

test('a later HTTP/1.x is accepted; a request line claiming HTTP/2.0 is not an upgrade (400)', (t) => {
  t.notThrows(() => validateUpgrade(request({}, { httpVersion: '1.2' })));
  t.is(rejection(request({}, { httpVersion: '2.0' })).status, 400);
  t.is(rejection(request({}, { httpVersion: '3.0' })).status, 400);
});

test('an upgrade without a Host header is rejected with 400 (RFC 6455 §4.2.1 item 2)', (t) => {
  t.is(rejection(request({ host: undefined })).status, 400);
  t.is(rejection(request({ host: '' })).status, 400);
});

// --- Upgrade and Connection tokens ----------------------------------------------------------

test('the Upgrade and Connection tokens match case-insensitively', (t) => {
  t.notThrows(() => validateUpgrade(request({ upgrade: 'WebSocket', connection: 'UPGRADE' })));
  t.notThrows(() => validateUpgrade(request({ upgrade: 'WEBSOCKET', connection: 'upgrade' })));
});

test('a Connection header with several tokens is accepted when one is Upgrade', (t) => {
  t.notThrows(() => validateUpgrade(request({ connection: 'keep-alive, Upgrade' })));
  t.notThrows(() => validateUpgrade(request({ connection: 'Upgrade,keep-alive' })));
});

test('an Upgrade header listing websocket among other protocols is accepted', (t) => {
  t.notThrows(() => validateUpgrade(request({ upgrade: 'h2c, websocket' })));
});

test('a missing or non-websocket Upgrade header is rejected with 400', (t) => {
  t.is(rejection(request({ upgrade: undefined })).status, 400);
  t.is(rejection(request({ upgrade: 'h2c' })).status, 400);
  t.is(rejection(request({ upgrade: 'websocketx' })).status, 400);
});

test('a Connection header without the Upgrade token is rejected with 400', (t) => {
  t.is(rejection(request({ connection: 'keep-alive' })).status, 400);
  t.is(rejection(request({ connection: undefined })).status, 400);
  // A token that merely contains "upgrade" is not the token.
  t.is(rejection(request({ connection: 'keep-alive-upgrade' })).status, 400);
});

// --- Sec-WebSocket-Version ------------------------------------------------------------------

test('Sec-WebSocket-Version 8 is rejected with 426 and Sec-WebSocket-Version: 13', (t) => {
  const err = rejection(request({ 'sec-websocket-version': '8' }));
  t.is(err.status, 426);
  t.deepEqual(err.headers, { 'Sec-WebSocket-Version': '13' });
});

test('a missing Sec-WebSocket-Version is rejected with 426 and Sec-WebSocket-Version: 13', (t) => {
  const err = rejection(request({ 'sec-websocket-version': undefined }));
  t.is(err.status, 426);
  t.deepEqual(err.headers, { 'Sec-WebSocket-Version': '13' });
});

test('a Sec-WebSocket-Version that is not exactly 13 is rejected with 426', (t) => {
  t.is(rejection(request({ 'sec-websocket-version': '013' })).status, 426);
  t.is(rejection(request({ 'sec-websocket-version': '13, 8' })).status, 426);
});

// --- Sec-WebSocket-Key ----------------------------------------------------------------------

test('a missing Sec-WebSocket-Key is rejected with 400', (t) => {
  const err = rejection(request({ 'sec-websocket-key': undefined }));
  t.is(err.status, 400);
  t.regex(err.reason, /Sec-WebSocket-Key/);
});

test('a Sec-WebSocket-Key of 15 bytes is rejected with 400', (t) => {
  const key = Buffer.alloc(15, 1).toString('base64');
  const err = rejection(request({ 'sec-websocket-key': key }));
  t.is(err.status, 400);
  t.is(err.reason, 'Sec-WebSocket-Key must be base64 of 16 bytes');
});

test('a Sec-WebSocket-Key of 17 bytes is rejected with 400', (t) => {
  const key = Buffer.alloc(17, 1).toString('base64');
  t.is(rejection(request({ 'sec-websocket-key': key })).status, 400);
});

test('a Sec-WebSocket-Key that is not base64 is rejected with 400', (t) => {
  t.is(rejection(request({ 'sec-websocket-key': 'not base64 at all!!!!!==' })).status, 400);
  t.is(rejection(request({ 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ-_' })).status, 400); // base64url
  t.is(rejection(request({ 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ' })).status, 400); // no padding
  t.is(rejection(request({ 'sec-websocket-key': '' })).status, 400);
});

test('a repeated Sec-WebSocket-Key header is rejected with 400', (t) => {
  t.is(rejection(request({ 'sec-websocket-key': `${RFC_KEY}, ${RFC_KEY}` })).status, 400);
});

test('any 16-byte base64 key is accepted', (t) => {
  const key = Buffer.from('0123456789abcdef').toString('base64');
  t.is(validateUpgrade(request({ 'sec-websocket-key': key })).accept, computeAccept(key));
});

// --- Origin ---------------------------------------------------------------------------------

test('any origin is allowed when there is no allow-list', (t) => {
  t.true(isOriginAllowed('https://evil.example', undefined));
  t.true(isOriginAllowed('https://evil.example', []));
  t.true(isOriginAllowed(undefined, []));
  t.notThrows(() => validateUpgrade(request({ origin: 'https://evil.example' }), { origins: [] }));
});

test('an origin on the allow-list is accepted, comparing scheme and host case-insensitively', (t) => {
  const origins = ['https://app.example.com', 'http://localhost:8080'];
  t.true(isOriginAllowed('https://app.example.com', origins));
  t.true(isOriginAllowed('HTTPS://App.Example.COM', origins));
  t.true(isOriginAllowed('http://localhost:8080', origins));
  t.notThrows(() => validateUpgrade(request({ origin: 'https://APP.example.com' }), { origins }));
});

test('an origin not on the allow-list is rejected with 403', (t) => {
  const origins = ['https://app.example.com'];
  t.false(isOriginAllowed('https://evil.example', origins));
  t.false(isOriginAllowed('http://app.example.com', origins)); // other scheme
  t.false(isOriginAllowed('https://app.example.com:8443', origins)); // other port
  t.false(isOriginAllowed('https://app.example.com.evil.example', origins));
  t.is(rejection(request({ origin: 'https://evil.example' }), { origins }).status, 403);
});

test('a request without Origin is rejected with 403 when an allow-list is set', (t) => {
  t.false(isOriginAllowed(undefined, ['https://app.example.com']));
  t.is(rejection(request(), { origins: ['https://app.example.com'] }).status, 403);
});

// --- Sec-WebSocket-Protocol -----------------------------------------------------------------

test('the first subprotocol the client offers that the server supports is chosen', (t) => {
  t.is(negotiateSubprotocol('b, a', ['a', 'b']), 'b');
  t.is(negotiateSubprotocol('a, b', ['b', 'a']), 'a');
  t.is(negotiateSubprotocol('x,  b ,a', ['a', 'b']), 'b');
});

test('the chosen subprotocol is echoed in the 101 response', (t) => {
  const result = validateUpgrade(request({ 'sec-websocket-protocol': 'b, a' }), { subprotocols: ['a', 'b'] });
  t.is(result.protocol, 'b');
  t.true(result.response.includes('\r\nSec-WebSocket-Protocol: b\r\n'));
  t.true(result.response.endsWith('\r\n\r\n'));
});

test('no Sec-WebSocket-Protocol header is sent when no offer matches', (t) => {
  const result = validateUpgrade(request({ 'sec-websocket-protocol': 'x, y' }), { subprotocols: ['a', 'b'] });
  t.is(result.protocol, undefined);
  t.false(result.response.includes('Sec-WebSocket-Protocol'));
});

test('no subprotocol is chosen when the client offers none or none matches', (t) => {
  t.is(negotiateSubprotocol(undefined, ['a']), undefined);
  t.is(negotiateSubprotocol(undefined, []), undefined);
  t.is(negotiateSubprotocol('x, y', ['a']), undefined);
});

test('a server that names no subprotocols takes the client\'s first offer, as ws does', (t) => {
  t.is(negotiateSubprotocol('chat, superchat', []), 'chat');
  t.is(validateUpgrade(request({ 'sec-websocket-protocol': 'b, a' }), {}).protocol, 'b');
  t.is(validateUpgrade(request({ 'sec-websocket-protocol': 'a' })).protocol, 'a');
});

test('subprotocol names compare case-sensitively', (t) => {
  t.is(negotiateSubprotocol('Chat', ['chat']), undefined);
});

test('a subprotocol offer with an invalid token is rejected with 400', (t) => {
  t.throws(() => negotiateSubprotocol('a b', ['a']), { instanceOf: HandshakeError });
  t.is(rejection(request({ 'sec-websocket-protocol': 'chat, bad/token' }), { subprotocols: ['chat'] }).status, 400);
  t.is(rejection(request({ 'sec-websocket-protocol': 'a;b' })).status, 400);
  t.is(rejection(request({ 'sec-websocket-protocol': ' , ' })).status, 400);
});

// --- rejection responses --------------------------------------------------------------------

test('rejectionResponse writes the status line, close, length, extra headers and the reason body', (t) => {
  const err = new HandshakeError(426, 'Sec-WebSocket-Version must be 13', { 'Sec-WebSocket-Version': '13' });
  t.is(
    rejectionResponse(err),
    'HTTP/1.1 426 Upgrade Required\r\n' +
      'Connection: close\r\n' +
      'Content-Type: text/plain\r\n' +
      'Content-Length: 32\r\n' +
      'Sec-WebSocket-Version: 13\r\n' +
      '\r\n' +
      'Sec-WebSocket-Version must be 13',
  );
});

test('rejectionResponse counts Content-Length in bytes, not characters', (t) => {
  const response = rejectionResponse(new HandshakeError(400, 'clé'));
  t.true(response.includes('Content-Length: 4\r\n'));
  t.true(response.startsWith('HTTP/1.1 400 Bad Request\r\n'));
});

test('rejectionResponse cannot be split by CR/LF in a reason or header value', (t) => {
  const response = rejectionResponse(new HandshakeError(403, 'no', { 'X-Why': 'a\r\nSet-Cookie: x=1' }));
  t.false(response.includes('\r\nSet-Cookie'));
});

test('every rejection carries a reason string', (t) => {
  const cases: Array<[HandshakeRequest, HandshakeOptions]> = [
    [request({}, { method: 'PUT' }), {}],
    [request({}, { httpVersion: '1.0' }), {}],
    [request({ upgrade: 'h2c' }), {}],
    [request({ connection: 'close' }), {}],
    [request({ 'sec-websocket-version': '7' }), {}],
    [request({ 'sec-websocket-key': 'abc' }), {}],
    [request({ origin: 'https://x.example' }), { origins: ['https://y.example'] }],
  ];
  for (const [req, options] of cases) t.true(rejection(req, options).reason.length > 0);
});
