/**
 * `npm start` as an operator's supervisor runs it: SIGTERM or SIGINT to the PID it started (npm)
 * or to npm's child stops the server cleanly, and SIGHUP to the server reloads its certificate.
 * Real processes: npm, its script's shell, the server; a real client on 127.0.0.1.
 */
import test from 'ava';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { makeCertificate } from './helpers/certificate.js';
import { childrenOf, commandLine, freePort, launch, stopsCleanly } from './helpers/launched-server.js';
import { waitFor } from './helpers/wait.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

async function npmStart(t: Parameters<typeof launch>[0], ...args: string[]) {
  return launch(t, 'npm', ['start', '--', '--port', String(await freePort()), '--app', 'echo', '--workers', '1', ...args], ROOT);
}

test('npm start execs the server: npm\'s only child is the server process itself', async (t) => {
  t.timeout(120_000);
  const server = await npmStart(t);
  const children = childrenOf(server.launcher.pid!);
  t.is(children.length, 1);
  t.regex(commandLine(children[0]!), /^node --max-semi-space-size=1 dist\/src\/cli\.js serve /, 'no `sh -c` in between');
  await stopsCleanly(t, server, server.launcher.pid!, 'SIGTERM');
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} to npm start's PID stops the server: 1001 to clients, port freed, npm exits 0`, async (t) => {
    t.timeout(120_000);
    const server = await npmStart(t);
    await stopsCleanly(t, server, server.launcher.pid!, signal);
    t.deepEqual(await server.exited, { code: 0, signal: null });
  });
}

test('SIGTERM to the process npm start started stops the server, and npm exits 0', async (t) => {
  t.timeout(120_000);
  const server = await npmStart(t);
  const [child] = childrenOf(server.launcher.pid!);
  await stopsCleanly(t, server, child!, 'SIGTERM');
  t.deepEqual(await server.exited, { code: 0, signal: null });
});

test('SIGHUP to the server npm start started reloads the certificate and keeps serving', async (t) => {
  t.timeout(120_000);
  const certificate = makeCertificate();
  t.teardown(() => certificate.remove());
  const server = await npmStart(t, '--cert', certificate.certPath, '--key', certificate.keyPath);
  const [child] = childrenOf(server.launcher.pid!);
  process.kill(child!, 'SIGHUP');
  await waitFor(() => /SIGHUP, TLS certificate reloaded/.test(server.output()), 30_000, 100);
  t.regex(server.output(), / info certificate_reloaded: SIGHUP, TLS certificate reloaded/);
  const ws = new WebSocket(`wss://127.0.0.1:${server.port}/`, { rejectUnauthorized: false });
  await once(ws, 'open');
  ws.send('after the reload');
  t.is(String((await once(ws, 'message'))[0]), 'after the reload');
  ws.close();
  await stopsCleanly(t, server, server.launcher.pid!, 'SIGTERM', 'wss');
});
