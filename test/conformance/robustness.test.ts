/**
 * Robustness: a client that drops TCP at any point (mid-header, mid-payload, mid-message, while
 * the server is writing) costs only its own connection; the server keeps serving new ones. The
 * server runs in this process, so a crash would also fail the file with an uncaught error.
 */
import test, { type ExecutionContext } from 'ava';
import { RawClient, text, binary, ping, close, pattern, Op } from '../helpers/raw-client.js';
import { conformanceSuite } from '../helpers/conformance-suite.js';

const conformance = conformanceSuite(test);

/** A fresh connection gets a text and a ping answered. */
async function assertStillServing(t: ExecutionContext, port: number): Promise<void> {
  const client = await RawClient.connect(port);
  await client.send(text('still here'), ping('and here'));
  const [echoed, answer] = await client.nextFrames(2);
  t.is(echoed.opcode, Op.TEXT);
  t.is(echoed.payload.toString(), 'still here');
  t.is(answer.opcode, Op.PONG);
  t.is(answer.payload.toString(), 'and here');
  client.destroy();
}

const large = binary(pattern(100_000, 4));

const CUTS = [
  { name: 'after the first header byte', bytes: large.subarray(0, 1) },
  { name: 'inside the extended length', bytes: large.subarray(0, 5) },
  { name: 'inside the mask key', bytes: large.subarray(0, 12) },
  { name: 'inside the payload', bytes: large.subarray(0, 50_000) },
  { name: 'inside a fragmented message', bytes: Buffer.concat([text('part', { fin: false }), text('x').subarray(0, 3)]) },
];

for (const { name, bytes } of CUTS) {
  conformance(`client dropping TCP ${name} does not disturb the server`, async (t, port) => {
    const client = await RawClient.connect(port);
    await client.send(bytes);
    client.destroy();
    await assertStillServing(t, port);
  });

  conformance(`client resetting TCP (RST) ${name} does not disturb the server`, async (t, port) => {
    const client = await RawClient.connect(port);
    await client.send(bytes);
    client.reset();
    await assertStillServing(t, port);
  });
}

conformance('client half-closing TCP (FIN) mid-frame gets the server to close its side too', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(large.subarray(0, 1000));
  client.end();
  const report = await client.untilClosed();
  t.false(report.timedOut, 'the server answers the FIN with its own');
  t.is(report.frames.length, 0);
  await assertStillServing(t, port);
});

conformance('client dropping TCP right after sending a 1 MiB message (while the echo is written) does not disturb the server', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(binary(pattern(1024 * 1024, 5)));
  client.reset();
  await assertStillServing(t, port);
});

conformance('client dropping TCP right after a close frame does not disturb the server', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text('bye'), close(1000));
  client.reset();
  await assertStillServing(t, port);
});

conformance('client dropping TCP in the same write as the upgrade request does not disturb the server', async (t, port) => {
  const client = await RawClient.connect(port, { head: large.subarray(0, 7) });
  client.destroy();
  await assertStillServing(t, port);
});

conformance('50 clients dropping TCP mid-frame at once do not disturb the server', async (t, port) => {
  const clients = await Promise.all(Array.from({ length: 50 }, () => RawClient.connect(port)));
  await Promise.all(clients.map((c, i) => c.send(large.subarray(0, 20 + i * 97))));
  clients.forEach((c, i) => (i % 2 === 0 ? c.destroy() : c.reset()));
  await assertStillServing(t, port);
});

/** The server's open connection count, from its `/healthz` endpoint. */
async function openConnections(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`);
  return ((await response.json()) as { connections: number }).connections;
}

/** Polls `/healthz` until the count is `expected`; returns the last count seen. */
async function connectionsSettleAt(port: number, expected: number, timeoutMs = 3000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let count = await openConnections(port);
  while (count !== expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    count = await openConnections(port);
  }
  return count;
}

// Serial: no other test of this file holds a connection while these count them.
conformance.serial('connections dropped mid-frame, by FIN or RST, are released by the server', async (t, port) => {
  const clients = await Promise.all(Array.from({ length: 12 }, () => RawClient.connect(port)));
  t.is(await openConnections(port), clients.length);
  await Promise.all(clients.map((c, i) => c.send(large.subarray(0, 3 + i * 1000))));
  clients.forEach((c, i) => [() => c.destroy(), () => c.reset(), () => c.end()][i % 3]());
  t.is(await connectionsSettleAt(port, 0), 0);
});

conformance.serial('connections failed for a protocol error are released by the server', async (t, port) => {
  const client = await RawClient.connect(port);
  await client.send(text('x', { rsv: 0x40 }));
  t.is((await client.untilClosed()).closeCode, 1002);
  t.is(await connectionsSettleAt(port, 0), 0);
});
