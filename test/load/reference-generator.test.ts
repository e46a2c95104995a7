/**
 * bench/reference/wsgen.c, the C generator bench:load compares `wasmsocket load` with: it is
 * trusted only because it counts work it checked. Real sockets against our own servers; its
 * figures are not asserted on, only that it counts and that it refuses what is wrong.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { listen } from '../../src/main-thread/server.js';
import { buildWsgen, parseWsgenOutput, wsgenArgs, type WsgenRun } from '../../bench/reference/wsgen.js';

async function runWsgen(run: WsgenRun, extra: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(buildWsgen(), [...wsgenArgs(run), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
  const [code] = await once(child, 'exit') as [number | null];
  return { code, stdout, stderr };
}

const short = { seconds: 0.5, warmupS: 0.2 };

test('echo, 20 B with 4 in flight and 64 KiB checked byte for byte: every counted reply was checked', async (t) => {
  const server = await listen({ host: '127.0.0.1', port: 0, app: 'echo', workers: 0 });
  t.teardown(() => server.close());
  for (const [run, extra] of [
    [{ mode: 'echo', port: server.port, connections: 10, inFlight: 4, size: 20, ...short }, []],
    [{ mode: 'echo', port: server.port, connections: 5, inFlight: 2, size: 65536, binary: true, ...short }, ['--verify-payload']],
  ] as Array<[WsgenRun, string[]]>) {
    const { code, stdout, stderr } = await runWsgen(run, extra);
    t.is(code, 0, stderr);
    const result = parseWsgenOutput(stdout)!;
    t.is(result.mode, 'echo');
    t.true(result.count > 0 && result.perSecond > 0);
    t.true(result.cpuPercent > 0, `its own CPU is measured: ${result.cpuPercent}%`);
    t.regex(stderr, /round trips\/s {2}cpu \d+%/);
  }
});

test('broadcast closed loop against our pub/sub app: deliveries counted, the publisher kept in step', async (t) => {
  const server = await listen({ host: '127.0.0.1', port: 0, app: 'pubsub', workers: 0 });
  t.teardown(() => server.close());
  const { code, stdout, stderr } = await runWsgen({ mode: 'broadcast', port: server.port, connections: 50, inFlight: 4, size: 28, ...short });
  t.is(code, 0, stderr);
  const result = parseWsgenOutput(stdout)!;
  t.true(result.count > 0);
  // Every delivery counted is of a publish made; at most 4 publishes are ever outstanding.
  t.true(result.count <= result.published * 50, `${result.count} deliveries of ${result.published} publishes`);
});

test('a reply with a byte changed, or a server that does not speak the protocol, ends the run with exit 1 and the reason', async (t) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  t.teardown(() => new Promise<void>((resolve) => { for (const c of wss.clients) c.terminate(); wss.close(() => resolve()); }));
  wss.on('connection', (ws) => ws.on('message', (data: Buffer, isBinary) => {
    const copy = Buffer.from(data);
    copy[copy.length - 1] ^= 1;
    ws.send(copy, { binary: isBinary });
  }));
  const port = (wss.address() as AddressInfo).port;
  const changed = await runWsgen({ mode: 'echo', port, connections: 2, inFlight: 1, size: 100, ...short });
  t.is(changed.code, 1);
  t.regex(changed.stderr, /last bytes differ/);
  t.is(parseWsgenOutput(changed.stdout), undefined);

  const echo = await listen({ host: '127.0.0.1', port: 0, app: 'echo', workers: 0 });
  t.teardown(() => echo.close());
  const wrongApp = await runWsgen({ mode: 'broadcast', port: echo.port, connections: 3, inFlight: 2, size: 28, ...short });
  t.is(wrongApp.code, 1);
  t.regex(wrongApp.stderr, /expected the subscribe acknowledgement, got \{"type":"subscribe"/);
});
