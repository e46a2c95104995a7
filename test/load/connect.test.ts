import test from 'ava';
import { listen } from '../../src/main-thread/server.js';
import { runLoad } from '../../src/load/run.js';
import { assertAllConnectionsClean, assertOrderedPercentiles } from './assertions.js';
import { waitFor } from '../helpers/wait.js';
import { loadOptions, startMaskingServer, startRefusingServer, unusedPort } from './servers.js';

test('connect: 200 connections open and all stay open until the end', async (t) => {
  const server = await listen({ host: '127.0.0.1', port: 0, app: 'echo' });
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(`ws://127.0.0.1:${server.port}/`, '--scenario', 'connect', '--connections', '200', '--ramp', '2000'));
  assertAllConnectionsClean(t, result);
  assertOrderedPercentiles(t, result.connect.handshakeMs, 'handshake');
  t.true(result.connect.perSecond > 0);
  t.true(result.ok);
});

test('connections to a port where nothing listens are counted as refused', async (t) => {
  const port = await unusedPort();
  const result = await runLoad(loadOptions(`ws://127.0.0.1:${port}/`, '--connections', '3'));
  t.deepEqual(result.errors, { refused: 3 });
  t.is(result.connect.opened, 0);
  t.false(result.ok);
  t.true(result.limits.some((line) => line.startsWith('refused')));
});

test('a server answering 403 to the upgrade is counted by status', async (t) => {
  const server = await startRefusingServer(403);
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--scenario', 'connect', '--connections', '4'));
  t.deepEqual(result.errors, { 'status 403': 4 });
  t.is(result.connect.opened, 0);
  t.false(result.ok);
});

test('a server that masks its frames is a protocol error, counted by close code and kind', async (t) => {
  const server = await startMaskingServer();
  t.teardown(() => server.close());
  const result = await runLoad(loadOptions(server.url, '--connections', '2'));
  t.is(result.connect.opened, 2);
  t.deepEqual(result.errors, { 'protocol 1002 WS_ERR_UNEXPECTED_MASK': 2 });
});

test('a closing handshake started by the server during the run is counted with its code', async (t) => {
  const server = await listen({ host: '127.0.0.1', port: 0, app: 'echo' });
  // A long duration, ended by the test once the closes are in: no fixed sleep to race a slow machine.
  const stop = new AbortController();
  const result = runLoad(loadOptions(`ws://127.0.0.1:${server.port}/`, '--connections', '3', '--duration', '120'), { signal: stop.signal });
  await waitFor(async () => (await server.stats()).connections === 3, 30_000, 50);
  await server.close(); // 1001 to every connection, resolved once they are closed
  stop.abort();
  const { errors } = await result;
  t.deepEqual(errors, { 'server-close 1001': 3 });
});
