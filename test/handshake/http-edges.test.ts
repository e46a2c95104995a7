/**
 * HTTP edges on real sockets: plain requests pipelined before an upgrade in the same packet are
 * answered first, in order, and the 101 and the WebSocket stream follow (RFC 9112 §9.3.2); a
 * request with two Host header fields gets 400 (RFC 9112 §3.2). Inline and with workers.
 */
import test from 'ava';
import net from 'node:net';
import { listen, type WasmSocketServer } from '../../src/main-thread/server.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const UPGRADE = `GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;

/** A masked text frame of at most 125 bytes (mask key 0: the payload as is, RFC 6455 §5.3). */
const maskedText = (text: string): Buffer => Buffer.concat([Buffer.from([0x81, 0x80 | text.length, 0, 0, 0, 0]), Buffer.from(text)]);

/** Writes `bytes` in one write and collects the answer until `done` holds or the server closes. */
function exchange(port: number, bytes: Buffer | string, done: (received: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(received);
    };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer; got ${JSON.stringify(received.toString('latin1'))}`));
    }, 20_000);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (done(received)) finish();
    });
    socket.on('close', finish);
    socket.on('error', () => {});
  });
}

interface Response {
  statusLine: string;
  headers: Map<string, string>;
  body: Buffer;
}

/** A chunked body (RFC 9112 §7.1) at the start of `bytes`: the body and the bytes it took, or undefined while incomplete. */
function dechunk(bytes: Buffer): { body: Buffer; length: number } | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16);
    if (bytes.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
    if (size === 0) return { body: Buffer.concat(parts), length: at };
  }
}

/** The HTTP responses at the start of `bytes` (Content-Length or chunked bodies), and what follows them. */
function responses(bytes: Buffer, count: number): { responses: Response[]; rest: Buffer } {
  const out: Response[] = [];
  let rest = bytes;
  while (out.length < count) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const [statusLine = '', ...lines] = rest.subarray(0, end).toString('latin1').split('\r\n');
    const headers = new Map(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
    if (headers.get('transfer-encoding') === 'chunked') {
      const chunked = dechunk(rest.subarray(end + 4));
      if (chunked === undefined) break;
      out.push({ statusLine, headers, body: chunked.body });
      rest = rest.subarray(end + 4 + chunked.length);
      continue;
    }
    const length = Number(headers.get('content-length') ?? 0);
    if (rest.length < end + 4 + length) break;
    out.push({ statusLine, headers, body: rest.subarray(end + 4, end + 4 + length) });
    rest = rest.subarray(end + 4 + length);
  }
  return { responses: out, rest };
}

/** The echo of "hi" after `plain` responses and the 101: an unmasked text frame (RFC 6455 §5.2). */
const ECHO = Buffer.from([0x81, 0x02, ...Buffer.from('hi')]);

for (const workers of [0, 2]) {
  const mode = workers === 0 ? 'inline' : `${workers} workers`;
  const withServer = async (run: (server: WasmSocketServer) => Promise<void>): Promise<void> => {
    const server = await listen({ host: '127.0.0.1', port: 0, app: 'echo', workers });
    try {
      await run(server);
    } finally {
      await server.close();
    }
  };

  test(`[${mode}] plain requests pipelined before an upgrade in one packet are answered first, in order, then the 101 and the echo`, async (t) => {
    await withServer(async (server) => {
      const packet = Buffer.concat([
        Buffer.from('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'),
        Buffer.from(UPGRADE), maskedText('hi'),
      ]);
      const bytes = await exchange(server.port, packet, (received) => {
        const { responses: got, rest } = responses(received, 3);
        return got.length === 3 && rest.length >= ECHO.length;
      });
      const { responses: [health, notFound, upgrade], rest } = responses(bytes, 3);
      t.is(health?.statusLine, 'HTTP/1.1 200 OK');
      t.is(JSON.parse(String(health?.body)).status, 'ok', 'the /healthz answer, whole, before anything else');
      t.is(notFound?.statusLine, 'HTTP/1.1 404 Not Found');
      t.is(upgrade?.statusLine, 'HTTP/1.1 101 Switching Protocols');
      t.deepEqual(rest.subarray(0, ECHO.length), ECHO, 'the frame sent after the upgrade request is echoed after the 101');
    });
  });

  test(`[${mode}] two Host header fields get 400, on an upgrade and on a plain request`, async (t) => {
    await withServer(async (server) => {
      const twoHosts = UPGRADE.replace('Host: 127.0.0.1\r\n', 'Host: 127.0.0.1\r\nHost: evil.example\r\n');
      const upgrade = responses(await exchange(server.port, twoHosts, (received) => responses(received, 1).responses.length === 1), 1).responses[0];
      t.is(upgrade?.statusLine, 'HTTP/1.1 400 Bad Request');
      t.regex(String(upgrade?.body), /more than one Host header/);
      const plain = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nhost: 127.0.0.1\r\n\r\n';
      const answer = responses(await exchange(server.port, plain, (received) => responses(received, 1).responses.length === 1), 1).responses[0];
      t.is(answer?.statusLine, 'HTTP/1.1 400 Bad Request');
      // One Host is still fine.
      const single = responses(await exchange(server.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', (received) => responses(received, 1).responses.length === 1), 1).responses[0];
      t.is(single?.statusLine, 'HTTP/1.1 200 OK');
    });
  });
}
