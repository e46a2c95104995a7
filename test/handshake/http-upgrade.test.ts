/**
 * The opening handshake over real TCP: raw `net` sockets against the real server on 127.0.0.1,
 * asserting the exact bytes a client sees (status lines, headers, the first frame).
 */
import test from 'ava';
import net from 'node:net';
import { listen, type ServerOptions, type UpgradeRequest, type WasmSocketServer } from '../../src/server/server.js';
import { computeAccept } from '../../src/handshake/handshake.js';



const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

/** Every handshake rule holds wherever the connection is served: inline, 1 worker, 2 workers. */
const WORKER_MODES = [0, 1, 2] as const;
const modeName = (workers: number) => (workers === 0 ? 'inline' : `${workers} worker${workers > 1 ? 's' : ''}`);

async function withServer(
  workers: number,
  options: Partial<ServerOptions>,
  run: (port: number) => Promise<void>,
): Promise<void> {
  const server: WasmSocketServer = await listen({
    host: '127.0.0.1',
    port: 0,
    app: 'echo',
    codec: 'js',
    workers,
    ...options,
  });
  try {
    await run(server.port);
  } finally {
    await server.close();
  }
}

interface Exchange {
  /** Every byte received. */
  bytes: Buffer;
  /** True when the server ended or closed the connection. */
  closed: boolean;
  /** Milliseconds from the write to the end of the exchange. */
  elapsedMs: number;
}

/**
 * Writes `request` in one `socket.write` and collects what comes back until `done(bytes)` holds
 * or the server closes the socket; fails after `timeoutMs`.
 */
function exchange(
  port: number,
  request: string | Buffer,
  done: (bytes: Buffer) => boolean = () => false,
  timeoutMs = 5000,
): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let start = 0;
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks), closed, elapsedMs: Date.now() - start });
    };
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`));
    }, timeoutMs);
    socket.on('connect', () => {
      start = Date.now();
      socket.write(request);
    });
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      if (done(Buffer.concat(chunks))) finish(false);
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
  });
}

interface HttpHead {
  statusLine: string;
  headers: Map<string, string>;
  /** Bytes after the blank line. */
  rest: Buffer;
}

function parseHead(bytes: Buffer): HttpHead {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no complete HTTP head in ${JSON.stringify(bytes.toString('latin1'))}`);
  const [statusLine = '', ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { statusLine, headers, rest: bytes.subarray(end + 4) };
}

/** True once a whole HTTP response (head and Content-Length body, if any) has arrived. */
function responseComplete(bytes: Buffer): boolean {
  if (bytes.indexOf('\r\n\r\n') < 0) return false;
  const head = parseHead(bytes);
  const length = Number(head.headers.get('content-length') ?? 0);
  return head.rest.length >= length;
}

function upgradeRequest(headers: Record<string, string | undefined> = {}, method = 'GET'): string {
  const all: Record<string, string | undefined> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  let request = `${method} /chat HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(all)) if (value !== undefined) request += `${name}: ${value}\r\n`;
  return request + '\r\n';
}

/** A client frame: FIN + opcode, masked payload (RFC 6455 §5.2, §5.3). Payload ≤ 125 bytes. */
function maskedFrame(opcode: number, payload: Buffer, maskKey = Buffer.from([0x37, 0xfa, 0x21, 0x3d])): Buffer {
  const frame = Buffer.alloc(2 + 4 + payload.length);
  frame[0] = 0x80 | opcode;
  frame[1] = 0x80 | payload.length;
  maskKey.copy(frame, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ maskKey[i % 4]!;
  return frame;
}

async function rejected(port: number, request: string): Promise<HttpHead & Exchange> {
  const result = await exchange(port, request, responseComplete);
  return { ...result, ...parseHead(result.bytes) };
}

for (const workers of WORKER_MODES) {
  // --- accepted ------------------------------------------------------------------------------

  test(`a valid upgrade gets 101 Switching Protocols with the RFC 6455 accept value [${modeName(workers)}]`, async (t) => {
    await withServer(workers, {}, async (port) => {
      const { bytes } = await exchange(port, upgradeRequest(), (b) => b.includes('\r\n\r\n'));
      const head = parseHead(bytes);
      t.is(head.statusLine, 'HTTP/1.1 101 Switching Protocols');
      t.is(head.headers.get('upgrade')?.toLowerCase(), 'websocket');
      t.is(head.headers.get('connection')?.toLowerCase(), 'upgrade');
      t.is(head.headers.get('sec-websocket-accept'), ACCEPT);
      t.is(computeAccept(KEY), ACCEPT);
      t.false(head.headers.has('sec-websocket-protocol'));
      t.false(head.headers.has('sec-websocket-extensions'));
    });
  });

  test(`the server picks the first subprotocol the client offers that it supports [${modeName(workers)}]`, async (t) => {
    await withServer(workers, { subprotocols: ['a', 'b'] }, async (port) => {
      const request = upgradeRequest({ 'Sec-WebSocket-Protocol': 'b, a' });
      const head = parseHead((await exchange(port, request, (b) => b.includes('\r\n\r\n'))).bytes);
      t.is(head.statusLine, 'HTTP/1.1 101 Switching Protocols');
      t.is(head.headers.get('sec-websocket-protocol'), 'b');
    });
  });

  for (const codec of ['js', 'wasm'] as const) {
    test(`a frame sent in the same write as the upgrade request is echoed after the 101 (${codec} codec) [${modeName(workers)}]`, async (t) => {
      await withServer(workers, { codec }, async (port) => {
        const request = Buffer.concat([Buffer.from(upgradeRequest(), 'latin1'), maskedFrame(0x1, Buffer.from('hi'))]);
        const { bytes } = await exchange(port, request, (b) => {
          const end = b.indexOf('\r\n\r\n');
          return end >= 0 && b.length >= end + 4 + 4;
        });
        const head = parseHead(bytes);
        t.is(head.statusLine, 'HTTP/1.1 101 Switching Protocols');
        // RFC 6455 §5.1: a server never masks; FIN + text, length 2, "hi".
        t.deepEqual([...head.rest.subarray(0, 4)], [0x81, 0x02, 0x68, 0x69]);
      });
    });
  }

  // --- rejected ------------------------------------------------------------------------------

  test(`an unsupported Sec-WebSocket-Version gets 426 with Sec-WebSocket-Version: 13 [${modeName(workers)}]`, async (t) => {
    await withServer(workers, {}, async (port) => {
      const head = await rejected(port, upgradeRequest({ 'Sec-WebSocket-Version': '8' }));
      t.is(head.statusLine, 'HTTP/1.1 426 Upgrade Required');
      t.is(head.headers.get('sec-websocket-version'), '13');
    });
  });

  test(`a Sec-WebSocket-Key that is not base64 of 16 bytes gets 400 [${modeName(workers)}]`, async (t) => {
    await withServer(workers, {}, async (port) => {
      const head = await rejected(port, upgradeRequest({ 'Sec-WebSocket-Key': Buffer.alloc(15).toString('base64') }));
      t.is(head.statusLine, 'HTTP/1.1 400 Bad Request');
      t.true(head.rest.toString().length > 0, 'the body carries the reason');
    });
  });

  test(`a POST upgrade gets 405 with Allow: GET [${modeName(workers)}]`, async (t) => {
    await withServer(workers, {}, async (port) => {
      const head = await rejected(port, upgradeRequest({ 'Content-Length': '0' }, 'POST'));
      t.is(head.statusLine, 'HTTP/1.1 405 Method Not Allowed');
      t.is(head.headers.get('allow'), 'GET');
    });
  });

  test(`an origin outside the allow-list gets 403 [${modeName(workers)}]`, async (t) => {
    await withServer(workers, { origins: ['https://allowed.example'] }, async (port) => {
      const denied = await rejected(port, upgradeRequest({ Origin: 'https://evil.example' }));
      t.is(denied.statusLine, 'HTTP/1.1 403 Forbidden');
      const allowed = parseHead((await exchange(port, upgradeRequest({ Origin: 'https://allowed.example' }), (b) => b.includes('\r\n\r\n'))).bytes);
      t.is(allowed.statusLine, 'HTTP/1.1 101 Switching Protocols');
    });
  });

  test(`a request line with HTTP/2.0, one without Host, and an upgrade of /healthz get 400, 400, 404 [${modeName(workers)}]`, async (t) => {
    await withServer(workers, {}, async (port) => {
      t.is((await rejected(port, upgradeRequest().replace('HTTP/1.1', 'HTTP/2.0'))).statusLine, 'HTTP/1.1 400 Bad Request');
      t.is((await rejected(port, upgradeRequest({ Host: undefined }))).statusLine, 'HTTP/1.1 400 Bad Request');
      t.is((await rejected(port, upgradeRequest().replace('GET /chat', 'GET /healthz'))).statusLine, 'HTTP/1.1 404 Not Found');
    });
  });

  test(`an authorize hook returning false gets 401 [${modeName(workers)}]`, async (t) => {
    await withServer(workers, { authorize: () => false }, async (port) => {
      const head = await rejected(port, upgradeRequest());
      t.is(head.statusLine, 'HTTP/1.1 401 Unauthorized');
    });
  });

  test(`an authorize hook returning a status gets that status [${modeName(workers)}]`, async (t) => {
    await withServer(workers, { authorize: () => ({ status: 403 }) }, async (port) => {
      const head = await rejected(port, upgradeRequest());
      t.is(head.statusLine, 'HTTP/1.1 403 Forbidden');
    });
  });

  test(`an async authorize hook on the main thread sees the request and can accept it [${modeName(workers)}]`, async (t) => {
    const seen: UpgradeRequest[] = [];
    const authorize = async (request: UpgradeRequest) => {
      seen.push(request);
      await new Promise((resolve) => setTimeout(resolve, 20));
      return request.headers['x-token'] === 'secret' || { status: 403, reason: 'bad token' };
    };
    await withServer(workers, { authorize }, async (port) => {
      const accepted = parseHead((await exchange(port, upgradeRequest({ 'X-Token': 'secret' }), (b) => b.includes('\r\n\r\n'))).bytes);
      t.is(accepted.statusLine, 'HTTP/1.1 101 Switching Protocols');
      const refused = await rejected(port, upgradeRequest({ 'X-Token': 'wrong' }));
      t.is(refused.statusLine, 'HTTP/1.1 403 Forbidden');
      t.regex(refused.rest.toString(), /bad token/);
    });
    t.is(seen.length, 2);
    t.like(seen[0], { method: 'GET', url: '/chat', remoteAddress: '127.0.0.1' });
    t.true(seen[0].remotePort > 0);
  });

  test(`an authorize hook that throws gets 500 and is reported [${modeName(workers)}]`, async (t) => {
    const errors: Error[] = [];
    const authorize = () => { throw new Error('hook failed on purpose'); };
    await withServer(workers, { authorize, onError: (error) => errors.push(error) }, async (port) => {
      const head = await rejected(port, upgradeRequest());
      t.is(head.statusLine, 'HTTP/1.1 500 Internal Server Error');
    });
    t.regex(errors[0]?.message ?? '', /hook failed on purpose/);
  });

  test(`request headers larger than maxHeaderBytes get 431 [${modeName(workers)}]`, async (t) => {
    await withServer(workers, { maxHeaderBytes: 8 * 1024 }, async (port) => {
      const head = await rejected(port, upgradeRequest({ 'X-Padding': 'x'.repeat(20 * 1024) }));
      t.is(head.statusLine, 'HTTP/1.1 431 Request Header Fields Too Large');
    });
  });

  test(`a partial request that stalls is closed after handshakeTimeoutMs [${modeName(workers)}]`, async (t) => {
    await withServer(workers, { handshakeTimeoutMs: 300 }, async (port) => {
      const result = await exchange(port, 'GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n', () => false, 30_000);
      t.true(result.closed, 'the server closed the stalled connection');
      t.true(result.elapsedMs >= 250, `closed after ${result.elapsedMs} ms, before the timeout`);
    });
  });

  test(`a plain GET without Upgrade gets a small HTTP answer, not a hang [${modeName(workers)}]`, async (t) => {
    await withServer(workers, {}, async (port) => {
      const head = await rejected(port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      // The echo application serves no page (the pubsub one does: test/server/http-pages.test.ts).
      t.regex(head.statusLine, /^HTTP\/1\.1 404 /);
    });
  });
}
