/**
 * permessage-deflate against the `ws` client (its perMessageDeflate on), on real sockets, inline
 * and in worker mode, with both codecs: compressed and fragmented compressed messages of up to
 * 128 KiB echo intact, with and without context takeover, with various window sizes.
 */
import test from 'ava';
import { once } from 'node:events';
import WebSocket, { type PerMessageDeflateOptions } from 'ws';
import { listen, type ServerOptions } from '../../src/main-thread/server.js';
import { CODEC_KINDS } from '../helpers/codecs.js';

const SIZES = [1, 100, 1023, 1024, 4000, 16 * 1024, 64 * 1024, 128 * 1024];

/** What each side asks for, and the extension the client must end up with. */
const CASES: Array<{ name: string; server: ServerOptions['deflate']; client: PerMessageDeflateOptions; agreed: RegExp }> = [
  { name: 'the defaults (no context takeover)', server: true, client: {}, agreed: /^permessage-deflate; server_no_context_takeover; client_no_context_takeover$/ },
  {
    name: 'context takeover both ways', server: { serverNoContextTakeover: false, clientNoContextTakeover: false }, client: {},
    agreed: /^permessage-deflate$/,
  },
  {
    name: 'context takeover, small windows asked by the client', server: { serverNoContextTakeover: false, clientNoContextTakeover: false },
    client: { serverMaxWindowBits: 9, clientMaxWindowBits: 10 }, agreed: /^permessage-deflate; server_max_window_bits=9; client_max_window_bits=10$/,
  },
  {
    name: 'windows limited by the server', server: { serverMaxWindowBits: 10, clientMaxWindowBits: 11, level: 1, memLevel: 2 }, client: {},
    agreed: /^permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11$/,
  },
  {
    name: 'the client asks for no context takeover', server: { serverNoContextTakeover: false, clientNoContextTakeover: false },
    client: { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 8 },
    agreed: /^permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8$/,
  },
];

/** Text that compresses, with multi-byte characters cut across fragment boundaries. */
function textOf(size: number, seed: number): string {
  let out = '';
  for (let i = seed; out.length < size; i++) out += `${i}:grüße ✓ ${'ab'.repeat(i % 13)};`;
  return out.slice(0, size);
}

function binaryOf(size: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = ((i * seed) >>> 3) & 0x3f;
  return bytes;
}

const nextMessage = (ws: WebSocket) => once(ws, 'message') as Promise<[Buffer, boolean]>;

for (const codec of CODEC_KINDS) {
  for (const workers of [0, 1]) {
    for (const { name, server: deflate, client, agreed } of CASES) {
      const label = `[${codec}, ${workers === 0 ? 'inline' : '1 worker'}] ${name}`;
      test(`${label}: compressed messages up to 128 KiB and fragmented ones echo intact with the ws client`, async (t) => {
        const server = await listen({ host: '127.0.0.1', port: 0, app: 'echo', codec, workers, deflate });
        t.teardown(() => server.close());
        const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: { threshold: 0, ...client } });
        t.teardown(() => ws.terminate());
        const upgraded = once(ws, 'upgrade') as Promise<[{ headers: Record<string, string> }]>;
        await once(ws, 'open');
        const [response] = await upgraded;
        t.regex(response.headers['sec-websocket-extensions'] ?? '', agreed);
        for (const size of SIZES) {
          const message = textOf(size, size);
          ws.send(message);
          const [data, isBinary] = await nextMessage(ws);
          t.false(isBinary);
          t.is(data.toString(), message, `text ${size}`);
          const bytes = binaryOf(size, size + 3);
          ws.send(bytes);
          const [echoed, binary] = await nextMessage(ws);
          t.true(binary);
          t.true(echoed.equals(bytes), `binary ${size}`);
        }
        // Fragmented: the first fragment carries RSV1, the rest continue the DEFLATE stream.
        const whole = textOf(100_000, 7);
        const cuts = [0, 10, 4000, 4001, 60_000, whole.length];
        for (let i = 0; i + 1 < cuts.length; i++) ws.send(whole.slice(cuts[i], cuts[i + 1]), { fin: i + 2 === cuts.length, compress: true });
        const [data] = await nextMessage(ws);
        t.is(data.toString(), whole, 'fragmented');
        ws.close(1000);
        t.is((await once(ws, 'close'))[0], 1000);
      });
    }
  }

  test(`[${codec}] a ws client without perMessageDeflate gets no extension and plain frames from a deflate server`, async (t) => {
    const server = await listen({ host: '127.0.0.1', port: 0, app: 'echo', codec, deflate: true });
    t.teardown(() => server.close());
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: false });
    t.teardown(() => ws.terminate());
    await once(ws, 'open');
    t.is(ws.extensions, '');
    const message = textOf(50_000, 1);
    ws.send(message);
    t.is((await nextMessage(ws))[0].toString(), message);
  });

  test(`[${codec}] a server without deflate ignores the ws client's offer`, async (t) => {
    const server = await listen({ host: '127.0.0.1', port: 0, app: 'echo', codec });
    t.teardown(() => server.close());
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: true });
    t.teardown(() => ws.terminate());
    await once(ws, 'open');
    t.is(ws.extensions, '');
    ws.send('plain');
    t.is((await nextMessage(ws))[0].toString(), 'plain');
  });
}

test('listen() refuses bad deflate options with a TypeError before listening', async (t) => {
  await t.throwsAsync(listen({ port: 0, app: 'echo', deflate: { level: 42 } }), { instanceOf: TypeError, message: /deflate.level must be an integer from 0 to 9/ });
  await t.throwsAsync(listen({ port: 0, app: 'echo', deflate: 'on' as unknown as boolean }), { instanceOf: TypeError });
});
