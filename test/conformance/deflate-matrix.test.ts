/**
 * RFC 7692 conformance against an independent implementation, in the manner of Autobahn's
 * sections 12 and 13: the `ws` client (its own permessage-deflate, on zlib) offers every
 * parameter combination to servers configured three ways, in worker mode, with both codecs.
 * For each agreement: the response only carries parameters the offer allowed (§7.1), and
 * messages of 16 B to 128 KiB, text and binary, whole and fragmented, echo intact and travel
 * compressed both ways.
 */
import test from 'ava';
import { once } from 'node:events';
import WebSocket, { type PerMessageDeflateOptions } from 'ws';
import { listen, type ServerOptions } from '../../src/main-thread/server.js';
import { parseExtensionHeader } from '../../src/handshake/extension-header.js';
import { CODEC_KINDS } from '../helpers/codecs.js';

/** Autobahn 12.x sizes. */
const SIZES = [16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072];
const MESSAGES_PER_SIZE = 2;
/**
 * The server sends larger messages uncompressed (deflate.maxCompressBytes, 128 KiB, keeps one
 * synchronous deflate short; RFC 7692 lets it): the 128 KiB text here is over that in UTF-8.
 */
const COMPRESSED_UP_TO = 65536;

const SERVERS: Array<{ name: string; deflate: ServerOptions['deflate'] }> = [
  { name: 'server defaults', deflate: { threshold: 0 } },
  { name: 'server allows context takeover', deflate: { threshold: 0, serverNoContextTakeover: false, clientNoContextTakeover: false } },
  { name: 'server limits windows to 9 bits', deflate: { threshold: 0, serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 9, clientMaxWindowBits: 9 } },
];

/** Autobahn 13.x offers, as the ws client spells them (it always offers client_max_window_bits unless given a number). */
const OFFERS: Array<{ name: string; offer: PerMessageDeflateOptions }> = [
  { name: 'default offer', offer: {} },
  { name: 'client_no_context_takeover', offer: { clientNoContextTakeover: true } },
  { name: 'server_no_context_takeover', offer: { serverNoContextTakeover: true } },
  { name: 'client_max_window_bits=9', offer: { clientMaxWindowBits: 9 } },
  { name: 'client_max_window_bits=15', offer: { clientMaxWindowBits: 15 } },
  { name: 'server_max_window_bits=9', offer: { serverMaxWindowBits: 9 } },
  { name: 'server_max_window_bits=15', offer: { serverMaxWindowBits: 15 } },
  { name: 'every parameter', offer: { clientNoContextTakeover: true, serverNoContextTakeover: true, clientMaxWindowBits: 10, serverMaxWindowBits: 11 } },
];

/** JSON-like text with multi-byte characters: compressible, not trivially so. */
function textOf(size: number, seed: number): string {
  let out = '';
  for (let i = seed; out.length < size; i++) out += `{"id":${i * 7919 % 10007},"name":"grüße-${i % 97}","ok":${i % 3 === 0}},`;
  return out.slice(0, size);
}

function binaryOf(size: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = ((i * seed) >>> 4) & 0x1f;
  return bytes;
}

/** The parameters of the one permessage-deflate the server agreed to. */
function agreedParameters(header: string | undefined): Map<string, string | true> {
  const offers = parseExtensionHeader(header ?? '');
  if (offers.length !== 1 || offers[0].name !== 'permessage-deflate') throw new Error(`expected one permessage-deflate in ${JSON.stringify(header)}`);
  return new Map(offers[0].params.map(({ name, value }) => [name, value ?? true] as [string, string | true]));
}

/** RFC 7692 §7.1: what the response may say, given the offer (as the ws client sends it). */
function checkResponse(params: Map<string, string | true>, offer: PerMessageDeflateOptions, server: Exclude<ServerOptions['deflate'], boolean | undefined>): string | null {
  for (const name of params.keys()) {
    if (!['server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits', 'client_max_window_bits'].includes(name)) return `unknown parameter ${name}`;
  }
  if (offer.serverNoContextTakeover === true && !params.has('server_no_context_takeover')) return 'server_no_context_takeover was asked for and not granted';
  const serverBits = params.get('server_max_window_bits');
  if (serverBits !== undefined) {
    const bits = Number(serverBits);
    if (!(bits >= 8 && bits <= 15)) return `server_max_window_bits=${serverBits}`;
    if (typeof offer.serverMaxWindowBits === 'number' && bits > offer.serverMaxWindowBits) return `server_max_window_bits ${bits} above the offer's ${offer.serverMaxWindowBits}`;
  } else if (typeof offer.serverMaxWindowBits === 'number') {
    return 'an offered server_max_window_bits must be answered (§7.1.2.1)';
  }
  const clientBits = params.get('client_max_window_bits');
  if (clientBits !== undefined) {
    const bits = Number(clientBits);
    if (!(bits >= 8 && bits <= 15)) return `client_max_window_bits=${clientBits}`;
    if (typeof offer.clientMaxWindowBits === 'number' && bits > offer.clientMaxWindowBits) return `client_max_window_bits ${bits} above the offer's ${offer.clientMaxWindowBits}`;
  }
  if ((server.clientMaxWindowBits ?? 15) < 15 && clientBits === undefined && typeof offer.clientMaxWindowBits !== 'number') {
    return 'the server limits client windows but the response does not say so';
  }
  return null;
}

const nextMessage = (ws: WebSocket) => once(ws, 'message') as Promise<[Buffer, boolean]>;

interface RawSocketCounters { bytesRead: number; bytesWritten: number }
const socketOf = (ws: WebSocket) => (ws as unknown as { _socket: RawSocketCounters })._socket;

for (const codec of CODEC_KINDS) {
  for (const { name: serverName, deflate } of SERVERS) {
    test(`[${codec}, 1 worker] ${serverName}: every offer is answered within what it allowed, and 16 B–128 KiB messages echo compressed`, async (t) => {
      const server = await listen({ host: '127.0.0.1', port: 0, app: 'echo', codec, workers: 1, deflate });
      t.teardown(() => server.close());
      for (const { name: offerName, offer } of OFFERS) {
        const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: { threshold: 0, ...offer } });
        const upgraded = once(ws, 'upgrade') as Promise<[{ headers: Record<string, string> }]>;
        await once(ws, 'open');
        const [response] = await upgraded;
        const problem = checkResponse(agreedParameters(response.headers['sec-websocket-extensions']), offer, deflate as object);
        t.is(problem, null, `${offerName}: ${response.headers['sec-websocket-extensions']}`);
        const socket = socketOf(ws);
        let rawBytes = 0;
        const [readBefore, writtenBefore] = [socket.bytesRead, socket.bytesWritten];
        let [read, written] = [0, 0];
        for (const size of SIZES) {
          for (let n = 0; n < MESSAGES_PER_SIZE; n++) {
            const text = textOf(size, size + n);
            ws.send(text);
            const [data, isBinary] = await nextMessage(ws);
            t.false(isBinary);
            if (data.toString() !== text) t.fail(`${offerName}: text ${size} #${n} came back different`);
            const bytes = binaryOf(size, size + n + 1);
            ws.send(bytes);
            const [echoed, binary] = await nextMessage(ws);
            t.true(binary);
            if (!echoed.equals(bytes)) t.fail(`${offerName}: binary ${size} #${n} came back different`);
            if (size <= COMPRESSED_UP_TO) rawBytes += Buffer.byteLength(text) + size;
          }
          if (size === COMPRESSED_UP_TO) [read, written] = [socket.bytesRead - readBefore, socket.bytesWritten - writtenBefore];
        }
        // Autobahn 13 also fragments: the first frame has RSV1, the rest continue the stream.
        for (const fragment of [256, 4096, 65536]) {
          const whole = textOf(131072, fragment);
          for (let at = 0; at < whole.length; at += fragment) {
            ws.send(whole.slice(at, at + fragment), { fin: at + fragment >= whole.length, compress: true });
          }
          const [data] = await nextMessage(ws);
          if (data.toString() !== whole) t.fail(`${offerName}: 128 KiB in ${fragment}-character fragments came back different`);
        }
        // These messages compress several times over: compressed both ways, the wire shows it.
        t.true(written < rawBytes / 2, `${offerName}: the client's messages went compressed (${written} bytes for ${rawBytes})`);
        t.true(read < rawBytes / 2, `${offerName}: the server's replies came compressed (${read} bytes for ${rawBytes})`);
        ws.close(1000);
        t.is((await once(ws, 'close'))[0], 1000, offerName);
      }
    });
  }
}
