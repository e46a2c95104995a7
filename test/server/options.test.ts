/**
 * The table of options as listen() applies it: every kind of bad value is a TypeError naming
 * the option before anything starts, DEFAULTS is frozen, and what each connection server (a
 * worker's included) is given is plain data holding every thread option and no node option.
 */
import test from 'ava';
import { listen, DEFAULTS, type Application, type ServerOptions } from '../../src/index.js';
import { connectionSettings, OPTIONS, resolveOptions, specs } from '../../src/server/options.js';

const echo: Application = { message: (conn, data, isBinary) => { conn.send(data, isBinary); } };

test('an enum option outside its values is a TypeError naming it, whatever the case or spelling', async (t) => {
  const cases: Array<[ServerOptions, RegExp]> = [
    [{ slowPolicy: 'Drop' as never }, /^option slowPolicy must be "drop" or "close", got "Drop"$/],
    [{ utf8Validator: 'natve' as never }, /^option utf8Validator must be "native" or "codec", got "natve"$/],
    [{ codec: 'rust' as never }, /^option codec must be "wasm" or "js", got "rust"$/],
  ];
  for (const [options, message] of cases) {
    await t.throwsAsync(listen({ app: echo, port: 0, ...options }), { instanceOf: TypeError, message }, JSON.stringify(options));
  }
});

test('a wrong type, an out-of-range number or a bad list entry is a TypeError naming the option', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ port: '8080' }, /^option port must be a whole number ≥ 0 and ≤ 65535, got "8080"$/],
    [{ workers: 1000 }, /^option workers must be a whole number ≥ 0 and ≤ 256, got 1000$/],
    [{ maxPayload: 1.5 }, /^option maxPayload must be a whole number/],
    [{ host: 127 }, /^option host must be a string, got 127$/],
    [{ noServer: 'yes' }, /^option noServer must be true or false, got "yes"$/],
    [{ subprotocols: 'chat' }, /^option subprotocols must be an array of strings$/],
    [{ origins: ['not a url'] }, /^option origins: "not a url" is not a URL$/],
    [{ redis: 'localhost:6379' }, /^option redis must look like redis:\/\/host:port, got "localhost:6379"$/],
    [{ onError: 'log' }, /^option onError must be a function$/],
    [{ app: 42 }, /^option app must be a name, a module path or an application object$/],
    [{ prot: 80 }, /^unknown option "prot"$/],
  ];
  for (const [options, message] of cases) {
    await t.throwsAsync(listen({ app: echo, port: 0, ...options } as never), { instanceOf: TypeError, message }, JSON.stringify(options));
  }
});

test('DEFAULTS is frozen and holds the default of every option that has one', (t) => {
  t.true(Object.isFrozen(DEFAULTS));
  t.throws(() => { (DEFAULTS as { port: number }).port = 1; }, { instanceOf: TypeError });
  const withDefault = specs().filter(([, spec]) => spec.default !== undefined).map(([name]) => name);
  t.deepEqual(Object.keys(DEFAULTS).sort(), withDefault.sort());
  t.is(DEFAULTS.slowPolicy, OPTIONS.slowPolicy.default);
});

test("a connection server's settings hold every thread option, no node option, and survive structured clone", (t) => {
  const resolved = resolveOptions({ maxSubscriptions: 7, slowPolicy: 'close', onError: () => {}, authorize: () => true, log: () => {} });
  const settings = connectionSettings(resolved);
  const threadOptions = specs().filter(([, spec]) => spec.scope === 'thread').map(([name]) => name);
  t.deepEqual(Object.keys(settings).sort(), [...threadOptions].sort());
  t.like(settings, { maxSubscriptions: 7, slowPolicy: 'close', maxPayload: DEFAULTS.maxPayload, deflate: undefined });
  for (const nodeOption of ['host', 'port', 'workers', 'onError', 'authorize', 'log', 'redis']) t.false(nodeOption in settings, nodeOption);
  t.deepEqual(structuredClone(settings), settings);
});
