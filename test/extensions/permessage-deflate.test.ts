/**
 * permessage-deflate negotiation (RFC 7692 §5, §7, §7.1) as a pure function: a
 * Sec-WebSocket-Extensions value and the server's settings in, the response element (or a
 * decline) out. Every rule of §7.1 has its case here; test/conformance/deflate.test.ts runs the
 * same negotiations on raw sockets.
 */
import test from 'ava';
import { parseExtensionHeader } from '../../src/handshake/extension-header.js';
import { negotiatePerMessageDeflate } from '../../src/extensions/permessage-deflate.js';
import { DEFLATE_DEFAULTS, resolveDeflateOptions, type DeflateOptions, type DeflateSettings } from '../../src/extensions/deflate-options.js';

/** Settings that ask for nothing: context takeover both ways, 2^15 windows. */
const PLAIN: DeflateSettings = resolveDeflateOptions({ serverNoContextTakeover: false, clientNoContextTakeover: false })!;

function negotiate(header: string, settings: DeflateSettings = PLAIN) {
  return negotiatePerMessageDeflate(parseExtensionHeader(header), settings);
}

/** The response element, or undefined when every offer is declined. */
function respond(header: string, settings: DeflateSettings = PLAIN): string | undefined {
  return negotiate(header, settings)?.response;
}

const settings = (options: DeflateOptions): DeflateSettings => resolveDeflateOptions({
  serverNoContextTakeover: false, clientNoContextTakeover: false, ...options,
})!;

test('a bare offer is accepted with no parameters: context takeover and 2^15 windows both ways', (t) => {
  const agreement = negotiate('permessage-deflate');
  t.is(agreement?.response, 'permessage-deflate');
  t.deepEqual(agreement?.negotiated, {
    send: { windowBits: 15, noContextTakeover: false },
    receive: { windowBits: 15, noContextTakeover: false },
  });
});

test('the defaults answer a bare offer with server_ and client_no_context_takeover (§7.1.1: the server may add both)', (t) => {
  const agreement = negotiate('permessage-deflate', { ...DEFLATE_DEFAULTS });
  t.is(agreement?.response, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  t.deepEqual(agreement?.negotiated, {
    send: { windowBits: 15, noContextTakeover: true },
    receive: { windowBits: 15, noContextTakeover: true },
  });
});

test("Chrome's offer (client_max_window_bits without a value) gets the defaults, without client_max_window_bits", (t) => {
  t.is(respond('permessage-deflate; client_max_window_bits', { ...DEFLATE_DEFAULTS }),
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
});

test('server_no_context_takeover offered is accepted by including it (§7.1.1.1), even by a server that would keep context', (t) => {
  const agreement = negotiate('permessage-deflate; server_no_context_takeover');
  t.is(agreement?.response, 'permessage-deflate; server_no_context_takeover');
  t.true(agreement?.negotiated.send.noContextTakeover);
  t.false(agreement?.negotiated.receive.noContextTakeover);
});

test('client_no_context_takeover offered is echoed and the server keeps no window for the client (§7.1.1.2)', (t) => {
  const agreement = negotiate('permessage-deflate; client_no_context_takeover');
  t.is(agreement?.response, 'permessage-deflate; client_no_context_takeover');
  t.true(agreement?.negotiated.receive.noContextTakeover);
  t.false(agreement?.negotiated.send.noContextTakeover);
});

test('server_max_window_bits offered is answered with the same value (§7.1.2.1)', (t) => {
  for (const bits of [8, 9, 10, 11, 12, 13, 14, 15]) {
    const agreement = negotiate(`permessage-deflate; server_max_window_bits=${bits}`);
    t.is(agreement?.response, `permessage-deflate; server_max_window_bits=${bits}`);
    t.is(agreement?.negotiated.send.windowBits, bits);
  }
});

test('server_max_window_bits is answered with a smaller value when the server is limited to less (§7.1.2.1)', (t) => {
  const agreement = negotiate('permessage-deflate; server_max_window_bits=12', settings({ serverMaxWindowBits: 10 }));
  t.is(agreement?.response, 'permessage-deflate; server_max_window_bits=10');
  t.is(agreement?.negotiated.send.windowBits, 10);
  t.is(respond('permessage-deflate; server_max_window_bits=9', settings({ serverMaxWindowBits: 10 })), 'permessage-deflate; server_max_window_bits=9');
});

test('a server limited to a smaller window says so unasked (§7.1.2.1: it may include server_max_window_bits)', (t) => {
  t.is(respond('permessage-deflate', settings({ serverMaxWindowBits: 11 })), 'permessage-deflate; server_max_window_bits=11');
});

test('server_max_window_bits without a value, or outside 8-15, or with leading zeros, is declined (§7.1.2.1)', (t) => {
  for (const param of ['server_max_window_bits', 'server_max_window_bits=7', 'server_max_window_bits=16', 'server_max_window_bits=08',
    'server_max_window_bits=0', 'server_max_window_bits=abc', 'server_max_window_bits=-9', 'server_max_window_bits=1e1']) {
    t.is(respond(`permessage-deflate; ${param}`), undefined, param);
  }
});

test('a quoted value is read unquoted (RFC 6455 §9.1)', (t) => {
  t.is(respond('permessage-deflate; server_max_window_bits="10"'), 'permessage-deflate; server_max_window_bits=10');
  t.is(respond('permessage-deflate; client_max_window_bits="9"'), 'permessage-deflate; client_max_window_bits=9');
});

test('client_max_window_bits without a value is left out of the response when the server allows 2^15 (§7.1.2.2)', (t) => {
  const agreement = negotiate('permessage-deflate; client_max_window_bits');
  t.is(agreement?.response, 'permessage-deflate');
  t.is(agreement?.negotiated.receive.windowBits, 15);
});

test('client_max_window_bits without a value is answered with the server limit when it is smaller (§7.1.2.2)', (t) => {
  const agreement = negotiate('permessage-deflate; client_max_window_bits', settings({ clientMaxWindowBits: 10 }));
  t.is(agreement?.response, 'permessage-deflate; client_max_window_bits=10');
  t.is(agreement?.negotiated.receive.windowBits, 10);
});

test('client_max_window_bits with a value is answered with that value or less (§7.1.2.2)', (t) => {
  t.is(respond('permessage-deflate; client_max_window_bits=12'), 'permessage-deflate; client_max_window_bits=12');
  t.is(negotiate('permessage-deflate; client_max_window_bits=12')?.negotiated.receive.windowBits, 12);
  t.is(respond('permessage-deflate; client_max_window_bits=12', settings({ clientMaxWindowBits: 10 })), 'permessage-deflate; client_max_window_bits=10');
  t.is(respond('permessage-deflate; client_max_window_bits=9', settings({ clientMaxWindowBits: 10 })), 'permessage-deflate; client_max_window_bits=9');
});

test('client_max_window_bits is never answered when the client did not offer it (§7.1.2.2)', (t) => {
  for (const header of ['permessage-deflate', 'permessage-deflate; server_max_window_bits=10', 'permessage-deflate; client_no_context_takeover']) {
    t.notRegex(respond(header) ?? '', /client_max_window_bits/, header);
    t.notRegex(respond(header, { ...DEFLATE_DEFAULTS }) ?? '', /client_max_window_bits/, header);
  }
});

test('a server limited to a client window under 2^15 declines offers without client_max_window_bits (§7: unsupported configuration)', (t) => {
  const limited = settings({ clientMaxWindowBits: 10 });
  t.is(respond('permessage-deflate', limited), undefined);
  t.is(respond('permessage-deflate; server_no_context_takeover', limited), undefined);
  t.is(respond('permessage-deflate, permessage-deflate; client_max_window_bits', limited), 'permessage-deflate; client_max_window_bits=10',
    'the next offer, which allows a limit, is accepted');
});

test('client_max_window_bits with a value outside 8-15 is declined (§7.1.2.2)', (t) => {
  for (const value of ['7', '16', '08', 'x', '1.0', '"16"']) {
    const header = `permessage-deflate; client_max_window_bits=${value}`;
    t.is(respond(header), undefined, header);
  }
});

test('a no_context_takeover parameter with a value is declined (§7.1.1)', (t) => {
  t.is(respond('permessage-deflate; server_no_context_takeover=1'), undefined);
  t.is(respond('permessage-deflate; client_no_context_takeover=true'), undefined);
});

test('an unknown parameter is declined (§7: not defined for use in an offer)', (t) => {
  t.is(respond('permessage-deflate; max_window_bits=10'), undefined);
  t.is(respond('permessage-deflate; Server_No_Context_Takeover'), undefined, 'parameter names are exact');
});

test('a parameter given twice is declined, with or without the same value (§7)', (t) => {
  for (const params of ['server_no_context_takeover; server_no_context_takeover', 'client_no_context_takeover; client_no_context_takeover',
    'server_max_window_bits=10; server_max_window_bits=10', 'server_max_window_bits=10; server_max_window_bits=11',
    'client_max_window_bits; client_max_window_bits=10', 'client_max_window_bits=9; client_max_window_bits=9']) {
    t.is(respond(`permessage-deflate; ${params}`), undefined, params);
  }
});

test('offers are taken in the client\'s order of preference: the first acceptable one wins (§5)', (t) => {
  t.is(respond('permessage-deflate; server_max_window_bits=10, permessage-deflate'), 'permessage-deflate; server_max_window_bits=10');
  t.is(respond('permessage-deflate, permessage-deflate; server_max_window_bits=10'), 'permessage-deflate');
  t.is(respond('permessage-deflate; unknown, permessage-deflate; server_max_window_bits=16, permessage-deflate; client_max_window_bits=11'),
    'permessage-deflate; client_max_window_bits=11', 'declined offers are passed over');
  t.is(respond('permessage-deflate; unknown, permessage-deflate; server_max_window_bits'), undefined);
});

test('other extensions are passed over; the response names only permessage-deflate, once', (t) => {
  t.is(respond('x-webkit-deflate-frame, permessage-deflate; client_max_window_bits'), 'permessage-deflate');
  t.is(respond('x-webkit-deflate-frame; no_context_takeover'), undefined);
  t.is(respond('Permessage-Deflate'), undefined, 'the extension name is exact');
  const response = respond('permessage-deflate, permessage-deflate, foo, permessage-deflate; server_no_context_takeover') ?? '';
  t.is(response.split(',').length, 1);
});

test('all four parameters at once are answered together', (t) => {
  const agreement = negotiate('permessage-deflate; client_max_window_bits=10; server_max_window_bits=9; server_no_context_takeover; client_no_context_takeover');
  t.is(agreement?.response, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10');
  t.deepEqual(agreement?.negotiated, {
    send: { windowBits: 9, noContextTakeover: true },
    receive: { windowBits: 10, noContextTakeover: true },
  });
});

test('deflate options are validated up front with TypeErrors that name the option', (t) => {
  const cases: Array<[unknown, RegExp]> = [
    ['yes', /deflate must be true, false or an options object, got "yes"/],
    [1, /deflate must be true, false or an options object, got 1/],
    [null, /deflate must be true, false or an options object, got null/],
    [[], /got an array/],
    [{ thresold: 10 }, /deflate: unknown option "thresold"/],
    [{ threshold: -1 }, /deflate.threshold must be an integer from 0 to/],
    [{ threshold: 1.5 }, /deflate.threshold must be an integer/],
    [{ level: 10 }, /deflate.level must be an integer from 0 to 9, got 10/],
    [{ memLevel: 0 }, /deflate.memLevel must be an integer from 1 to 9, got 0/],
    [{ serverMaxWindowBits: 7 }, /deflate.serverMaxWindowBits must be an integer from 8 to 15, got 7/],
    [{ clientMaxWindowBits: 16 }, /deflate.clientMaxWindowBits must be an integer from 8 to 15, got 16/],
    [{ clientMaxWindowBits: '10' }, /deflate.clientMaxWindowBits must be an integer from 8 to 15, got "10"/],
    [{ serverNoContextTakeover: 'no' }, /deflate.serverNoContextTakeover must be a boolean, got "no"/],
    [{ clientNoContextTakeover: 0 }, /deflate.clientNoContextTakeover must be a boolean, got 0/],
    [{ threshold: 2000, maxCompressBytes: 1000 }, /deflate.maxCompressBytes \(1000\) must not be below deflate.threshold \(2000\)/],
  ];
  for (const [value, message] of cases) {
    const error = t.throws(() => resolveDeflateOptions(value as DeflateOptions), { instanceOf: TypeError }, JSON.stringify(value));
    t.regex(error!.message, message);
  }
});

test('deflate options: off by default, true for the defaults, an object over the defaults', (t) => {
  t.is(resolveDeflateOptions(undefined), undefined);
  t.is(resolveDeflateOptions(false), undefined);
  t.deepEqual(resolveDeflateOptions(true), DEFLATE_DEFAULTS);
  t.deepEqual(resolveDeflateOptions({ threshold: 0, level: 1 }), { ...DEFLATE_DEFAULTS, threshold: 0, level: 1 });
  t.like(DEFLATE_DEFAULTS, { threshold: 1024, serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15 });
});
