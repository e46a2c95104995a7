/**
 * `wasmsocket load --deflate`: the client side of permessage-deflate against our server and the
 * `ws` package, echoes checked byte for byte (the echo scenario compares every reply with what
 * was sent), compression seen on the wire, and servers that decline or answer wrongly.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type PerMessageDeflateOptions } from 'ws';
import { listen } from '../../src/main-thread/server.js';
import { parseLoadArgs, UsageError } from '../../src/load/args.js';
import { deflateOfferHeader, readDeflateAnswer } from '../../src/load/deflate.js';
import { generatorLimitWarning } from '../../src/load/generator-cpu.js';
import { runLoad, type LoadResult } from '../../src/load/run.js';
import { CODEC_KINDS } from '../helpers/codecs.js';
import { waitFor } from '../helpers/wait.js';
import { assertAllConnectionsClean } from './assertions.js';
import { loadOptions } from './servers.js';

const JSON_FLAGS = ['--deflate', '--payload', 'json', '--connections', '3'];

function assertCompressedEcho(t: ExecutionContext, result: LoadResult, what: string): void {
  assertAllConnectionsClean(t, result);
  t.true(result.messages.received > 0, `${what}: round trips`);
  t.deepEqual(result.deflate, { offered: true, agreed: result.connections, declined: 0 }, what);
  t.deepEqual(warningsBesidesGenerator(result), [], what);
}

/** The warnings but the generator's own limit, which follows the machine's load, not deflate. */
function warningsBesidesGenerator(result: LoadResult): string[] {
  const limit = generatorLimitWarning(result.generator);
  return result.warnings.filter((warning) => warning !== limit);
}

/** A `ws` echo server that also sums the bytes its sockets read (the client's frames on the wire). */
async function startCountingWs(perMessageDeflate: PerMessageDeflateOptions | false) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate });
  await once(wss, 'listening');
  const wire = { bytesRead: 0, closed: 0 };
  wss.on('connection', (ws, request) => {
    request.socket.once('close', () => {
      wire.bytesRead += request.socket.bytesRead;
      wire.closed++;
    });
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`,
    wire,
    close: () => new Promise<void>((resolve) => wss.close(() => resolve())),
  };
}

for (const codec of CODEC_KINDS) {
  for (const workers of [0, 1]) {
    test(`[${codec}, ${workers === 0 ? 'inline' : '1 worker'}] --deflate against our server: agreed on every connection, echoes byte-exact, small and large`, async (t) => {
      const server = await listen({ host: '127.0.0.1', port: 0, app: 'echo', codec, workers, deflate: true });
      t.teardown(() => server.close());
      const url = `ws://127.0.0.1:${server.port}/`;
      // 100 B stays under the 1 KiB threshold (sent plain on a deflate connection); 4 KiB and 64 KiB are compressed.
      for (const size of ['100', '4096', '65536']) {
        const result = await runLoad(loadOptions(url, ...JSON_FLAGS, '--size', size, '--codec', codec));
        assertCompressedEcho(t, result, `${size} B`);
      }
    });
  }
}

test('--deflate against ws with perMessageDeflate: context takeover both ways, fewer bytes on the wire than sent', async (t) => {
  // threshold 0: ws compresses every reply; with context takeover (ws's default) each side keeps its window.
  const server = await startCountingWs({ threshold: 0 });
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, ...JSON_FLAGS, '--size', '16384', '--in-flight', '4'));
  assertCompressedEcho(t, result, 'ws, context takeover');
  await waitForBytes(server.wire, result);
  t.is(server.wire.closed, result.connections);
  t.true(server.wire.bytesRead < result.messages.sent * 16384 / 2,
    `the client's frames were compressed: ${server.wire.bytesRead} B read for ${result.messages.sent} messages of 16 KiB`);
});

test('--deflate --deflate-no-context-takeover against ws: agreed with server_no_context_takeover, byte-exact echoes', async (t) => {
  const server = await startCountingWs({ threshold: 0 });
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, ...JSON_FLAGS, '--deflate-no-context-takeover', '--size', '2048'));
  assertCompressedEcho(t, result, 'ws, no context takeover');
});

test('--deflate against ws: a 300 KB reply (inflated off the event loop) comes back byte-exact', async (t) => {
  const server = await startCountingWs({ threshold: 0 });
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--deflate', '--payload', 'json', '--connections', '2', '--size', '300000'));
  assertCompressedEcho(t, result, '300 KB');
});

test('--deflate against servers that decline it: counted, said in a warning, and the run goes on uncompressed', async (t) => {
  const ws = await startCountingWs(false);
  t.teardown(() => ws.close());
  const ours = await listen({ host: '127.0.0.1', port: 0, app: 'echo' });
  t.teardown(() => ours.close());
  for (const url of [ws.url, `ws://127.0.0.1:${ours.port}/`]) {
    const result = await runLoad(loadOptions(url, ...JSON_FLAGS, '--size', '2048'));
    assertAllConnectionsClean(t, result);
    t.true(result.messages.received > 0, url);
    t.deepEqual(result.deflate, { offered: true, agreed: 0, declined: 3 }, url);
    t.deepEqual(warningsBesidesGenerator(result), ['--deflate: the server declined permessage-deflate on 3 of 3 connections (they ran uncompressed)'], url);
  }
});

test('an extension answer that does not fit the offer fails the connection (bad-extension)', async (t) => {
  const answers = ['permessage-deflate; foo=1', 'permessage-deflate; server_max_window_bits=16', 'x-unknown', 'permessage-deflate, permessage-deflate'];
  for (const answer of answers) {
    const server = await startAnsweringServer(answer);
    const result = await runLoad(loadOptions(server.url, '--deflate', '--connections', '2', '--size', '100'));
    await server.close();
    t.deepEqual(result.errors, { 'bad-extension': 2 }, answer);
    t.is(result.connect.opened, 0, answer);
  }
  // Without --deflate, any extension in the answer is one the client did not ask for (RFC 6455 §4.1).
  const server = await startAnsweringServer('permessage-deflate');
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--connections', '1', '--size', '100'));
  t.deepEqual(result.errors, { 'bad-extension': 1 });
});

test('readDeflateAnswer: what the client compresses and inflates with, from the server\'s answer', (t) => {
  t.is(deflateOfferHeader({ noContextTakeover: false }), 'permessage-deflate; client_max_window_bits');
  t.is(deflateOfferHeader({ noContextTakeover: true }), 'permessage-deflate; client_max_window_bits; server_no_context_takeover; client_no_context_takeover');
  t.deepEqual(readDeflateAnswer(undefined, { noContextTakeover: false }), { kind: 'declined' });
  const agreed = readDeflateAnswer('permessage-deflate; server_no_context_takeover; client_max_window_bits=10; server_max_window_bits=12', { noContextTakeover: false });
  t.is(agreed.kind, 'agreed');
  if (agreed.kind === 'agreed') {
    t.deepEqual(agreed.config.negotiated, {
      send: { windowBits: 10, noContextTakeover: false },
      receive: { windowBits: 12, noContextTakeover: true },
    });
  }
  t.like(readDeflateAnswer('permessage-deflate', { noContextTakeover: true }), { kind: 'invalid' });
  t.like(readDeflateAnswer('permessage-deflate; client_max_window_bits', { noContextTakeover: false }), { kind: 'invalid' });
  t.like(readDeflateAnswer('permessage-deflate; server_no_context_takeover; server_no_context_takeover', { noContextTakeover: false }), { kind: 'invalid' });
  t.like(readDeflateAnswer('permessage-deflate; "x', { noContextTakeover: false }), { kind: 'invalid' });
});

test('--deflate flags: --deflate-no-context-takeover needs --deflate, --payload json is text', (t) => {
  t.throws(() => parseLoadArgs(['ws://127.0.0.1:1/', '--deflate-no-context-takeover']), { instanceOf: UsageError, message: /with --deflate/ });
  t.throws(() => parseLoadArgs(['ws://127.0.0.1:1/', '--payload', 'json', '--binary']), { instanceOf: UsageError, message: /excludes --binary/ });
  t.throws(() => parseLoadArgs(['ws://127.0.0.1:1/', '--payload', 'xml']), { instanceOf: UsageError, message: /--payload must be/ });
  t.like(parseLoadArgs(['ws://127.0.0.1:1/', '--deflate']), { deflate: { noContextTakeover: false }, payload: 'ascii' });
  t.like(parseLoadArgs(['ws://127.0.0.1:1/']), { deflate: undefined });
});

/** Server sockets report their byte counts as they close, which may follow the client's result. */
async function waitForBytes(wire: { closed: number }, result: LoadResult): Promise<void> {
  await waitFor(() => wire.closed === result.connections);
}

/** Completes the handshake with `Sec-WebSocket-Extensions: answer`, then reads and closes. */
async function startAnsweringServer(answer: string) {
  const server = createServer((socket: Socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('data', (request) => {
      const key = /Sec-WebSocket-Key: (\S+)/i.exec(request.toString('latin1'))?.[1] ?? '';
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n` +
        `Sec-WebSocket-Extensions: ${answer}\r\n\r\n`);
      socket.on('data', () => {});
      socket.on('end', () => socket.end());
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
    }),
  };
}
