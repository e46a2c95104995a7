import test from 'ava';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { listen } from '../../src/main-thread/server.js';
import { runLoad } from '../../src/load/run.js';
import { CODEC_KINDS } from '../helpers/codecs.js';
import { assertAllConnectionsClean, assertOrderedPercentiles } from './assertions.js';
import { loadOptions, startWsEcho } from './servers.js';

for (const codec of CODEC_KINDS) {
  test(`[${codec}] echo against our server: round trips with no errors and ordered latency percentiles`, async (t) => {
    const server = await listen({ host: '127.0.0.1', port: 0, app: 'echo' });
    t.teardown(() => server.close());
    const result = await runLoad(loadOptions(`ws://127.0.0.1:${server.port}/`, '--connections', '4', '--codec', codec));
    assertAllConnectionsClean(t, result);
    t.true(result.messages.received > 0);
    t.true(result.messages.receivedPerSecond > 0 && result.messages.bytesReceivedPerSecond > 0);
    assertOrderedPercentiles(t, result.latencyMs, 'round trip');
    assertOrderedPercentiles(t, result.connect.handshakeMs, 'handshake');
    t.true(result.ok);
  });
}

test('echo against the ws package server, text and binary, several messages in flight', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  for (const flags of [['--size', '20'], ['--binary', '--size', '1000', '--in-flight', '8']]) {
    const result = await runLoad(loadOptions(server.url, '--connections', '5', ...flags));
    assertAllConnectionsClean(t, result);
    t.true(result.messages.received > 0, flags.join(' '));
    assertOrderedPercentiles(t, result.latencyMs, flags.join(' '));
  }
});

test('echo at a fixed rate sends about that many messages and gets them back', async (t) => {
  const server = await startWsEcho();
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--connections', '3', '--rate', '500'));
  assertAllConnectionsClean(t, result);
  t.true(result.messages.sent > 0);
  // Every message sent before the stop is answered before the close handshake completes.
  t.is(result.messages.received, result.messages.sent);
  assertOrderedPercentiles(t, result.latencyMs, 'paced round trip');
});

test('an echo that differs by one byte past the stamp is counted as echo-mismatch, not as a round trip', async (t) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  t.teardown(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  wss.on('connection', (ws) => ws.on('message', (data: Buffer, isBinary) => {
    const copy = Buffer.from(data);
    copy[copy.length - 1] ^= 0x01; // 'a' → '`': still valid ASCII text, one byte off
    ws.send(copy, { binary: isBinary });
  }));
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
  const result = await runLoad(loadOptions(url, '--connections', '1', '--size', '1000', '--payload', 'json', '--duration', '0.3'));
  t.is(result.messages.received, 0);
  t.true((result.errors['echo-mismatch'] ?? 0) > 0, JSON.stringify(result.errors));
});
