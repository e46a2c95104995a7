/**
 * wss:// in every mode: the TLS handshake in the thread that owns the socket, a verified echo
 * with the ws client, plain HTTP over TLS, a plain client told to use wss://, a certificate
 * replaced without a restart, and the load generator speaking wss://.
 */
import test from 'ava';
import { once } from 'node:events';
import { connect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import { listen } from '../../src/main-thread/server.js';
import { parseLoadArgs } from '../../src/load/args.js';
import { runLoad } from '../../src/load/run.js';
import { makeCertificate } from '../helpers/certificate.js';

const first = makeCertificate('first');
const second = makeCertificate('second');
test.after.always(() => { first.remove(); second.remove(); });

const modeName = (workers: number) => (workers === 0 ? 'inline' : `${workers} worker${workers > 1 ? 's' : ''}`);

async function openSecure(port: number, ca: string): Promise<WebSocket> {
  const ws = new WebSocket(`wss://127.0.0.1:${port}/`, { ca });
  await once(ws, 'open');
  return ws;
}

const fingerprintOf = (ws: WebSocket) => ((ws as unknown as { _socket: TLSSocket })._socket).getPeerCertificate().fingerprint256;

for (const workers of [0, 1, 2]) {
  const mode = modeName(workers);

  test(`[${mode}] wss:// echoes with a verified certificate, and plain HTTP is served over TLS`, async (t) => {
    const server = await listen({ port: 0, app: 'echo', workers, tls: first });
    t.teardown(() => server.close());
    t.true(server.secure);
    const ws = await openSecure(server.port, first.cert);
    ws.send('over TLS');
    t.is(String((await once(ws, 'message'))[0]), 'over TLS');
    const big = Buffer.alloc(256 * 1024, 7);
    ws.send(big);
    t.deepEqual((await once(ws, 'message'))[0], big);
    ws.close();
    // fetch has no per-request CA: the same check through a raw TLS request.
    const { connect: connectTls } = await import('node:tls');
    const socket = connectTls({ host: '127.0.0.1', port: server.port, ca: first.cert });
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    let answer = '';
    socket.on('data', (data) => { answer += data; });
    await once(socket, 'close');
    t.regex(answer, /^HTTP\/1\.1 200 OK/);
    t.regex(answer, /"status":"ok"/);
  });

  test(`[${mode}] a refusal by the main thread (connection limit) reaches a wss:// client over TLS`, async (t) => {
    const server = await listen({ port: 0, app: 'echo', workers, tls: first, maxConnections: 1 });
    t.teardown(() => server.close());
    const admitted = await openSecure(server.port, first.cert);
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`wss://127.0.0.1:${server.port}/`, { ca: first.cert });
      ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      ws.once('error', () => resolve(-1));
    });
    t.is(status, 503);
    admitted.close();
  });

  test(`[${mode}] a plain client on the TLS port is told to use wss://`, async (t) => {
    const server = await listen({ port: 0, app: 'echo', workers, tls: first });
    t.teardown(() => server.close());
    const socket = connect(server.port, '127.0.0.1');
    socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    let answer = '';
    socket.on('data', (data) => { answer += data; });
    await once(socket, 'close');
    t.regex(answer, /^HTTP\/1\.1 400 Bad Request/);
    t.regex(answer, /this port speaks TLS: use wss:\/\//);
  });

  test(`[${mode}] setCertificate takes effect for new connections without a restart`, async (t) => {
    const server = await listen({ port: 0, app: 'echo', workers, tls: first });
    t.teardown(() => server.close());
    const before = await openSecure(server.port, first.cert);
    t.is(fingerprintOf(before), first.fingerprint);
    t.throws(() => server.setCertificate({ cert: 'not a certificate', key: first.key }), { instanceOf: TypeError, message: /^tls: / });
    server.setCertificate(second);
    // The message to the workers may still be on its way: a new connection sees the new
    // certificate once it has arrived.
    let after = await openSecure(server.port, `${first.cert}${second.cert}`);
    for (let attempt = 0; fingerprintOf(after) !== second.fingerprint && attempt < 500; attempt++) {
      after.close();
      await new Promise((resolve) => setTimeout(resolve, 20));
      after = await openSecure(server.port, `${first.cert}${second.cert}`);
    }
    t.is(fingerprintOf(after), second.fingerprint);
    before.send('still here');
    t.is(String((await once(before, 'message'))[0]), 'still here', 'an open connection keeps its session');
    before.close();
    after.close();
  });

  test(`[${mode}] wasmsocket load speaks wss:// (with --insecure for a self-signed certificate)`, async (t) => {
    const server = await listen({ port: 0, app: 'echo', workers, tls: first });
    t.teardown(() => server.close());
    const url = `wss://127.0.0.1:${server.port}/`;
    const result = await runLoad(parseLoadArgs([url, '--insecure', '--connections', '5', '--duration', '0.5']));
    t.deepEqual(result.errors, {});
    t.is(result.connect.closedClean, 5);
    t.true(result.messages.received > 0);
    const refused = await runLoad(parseLoadArgs([url, '--connections', '2', '--duration', '0.2']));
    t.false(refused.ok, 'without --insecure the self-signed certificate is refused');
    t.is(refused.connect.opened, 0);
  });
}

test('the CLI serves wss:// with --cert and --key, and a bad pair is one line and exit 2', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
  const mismatched = spawnSync(process.execPath, [cli, 'serve', '--port', '0', '--cert', first.certPath, '--key', second.keyPath], { encoding: 'utf8' });
  t.is(mismatched.status, 2);
  t.regex(mismatched.stderr, /^wasmsocket: tls: the certificate and key do not load/);
  t.is(mismatched.stderr.trimEnd().split('\n').length, 1);
  const missing = spawnSync(process.execPath, [cli, 'serve', '--port', '0', '--cert', '/nonexistent.pem', '--key', first.keyPath], { encoding: 'utf8' });
  t.is(missing.status, 2);
  t.regex(missing.stderr, /cannot read the TLS certificate or key/);
  const alone = spawnSync(process.execPath, [cli, 'serve', '--cert', first.certPath], { encoding: 'utf8' });
  t.regex(alone.stderr, /--cert and --key go together/);
});
