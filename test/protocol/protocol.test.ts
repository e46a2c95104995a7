import test from 'ava';
import { createCodec } from '../../src/codec/select.js';
import { WebSocketProtocol, ReadyState, type Role } from '../../src/protocol/protocol.js';
import { CODEC_KINDS } from '../helpers/codecs.js';

/** A protocol endpoint with its output recorded: the sans-I/O core driven without sockets. */
function endpoint(kind: (typeof CODEC_KINDS)[number], role: Role, maxPayload = 1 << 20) {
  const out = { messages: [] as Array<{ data: Buffer; isBinary: boolean }>, bytes: [] as Buffer[], transportClosed: 0, pongs: [] as Buffer[] };
  const machine = new WebSocketProtocol(createCodec(kind), {
    message: (data, isBinary) => out.messages.push({ data: Buffer.from(data), isBinary }),
    write: (first, second) => { out.bytes.push(Buffer.from(first)); if (second) out.bytes.push(Buffer.from(second)); },
    closeTransport: () => { out.transportClosed++; },
    pong: (data) => out.pongs.push(Buffer.from(data)),
  }, { role, maxPayload });
  /** Takes what the endpoint wrote so far. */
  const drain = () => { const all = Buffer.concat(out.bytes); out.bytes = []; return all; };
  return { machine, out, drain };
}

/** Delivers everything `from` wrote to `to`, split into pieces of `step` bytes. */
function pipe(from: ReturnType<typeof endpoint>, to: ReturnType<typeof endpoint>, step = Infinity): void {
  const bytes = from.drain();
  for (let i = 0; i < bytes.length; i += step) to.machine.receive(bytes.subarray(i, Math.min(bytes.length, i + step)));
}

for (const kind of CODEC_KINDS) {
  test(`[${kind}] client and server exchange text and binary, fed byte by byte`, (t) => {
    const client = endpoint(kind, 'client');
    const server = endpoint(kind, 'server');
    client.machine.send('héllo wörld ✓ 𝄞');
    client.machine.send(Buffer.from([0, 1, 2, 255]));
    client.machine.send(Buffer.alloc(70_000, 7));
    pipe(client, server, 1);
    t.deepEqual(server.out.messages.map((m) => [m.data.length, m.isBinary]), [[22, false], [4, true], [70_000, true]]);
    t.is(server.out.messages[0].data.toString(), 'héllo wörld ✓ 𝄞');
    t.true(server.out.messages[2].data.every((b) => b === 7));
    server.machine.send(server.out.messages[0].data, false);
    pipe(server, client, 3);
    t.is(client.out.messages[0].data.toString(), 'héllo wörld ✓ 𝄞');
    t.false(client.out.messages[0].isBinary);
  });

  test(`[${kind}] client frames are masked and server frames are not`, (t) => {
    const client = endpoint(kind, 'client');
    const server = endpoint(kind, 'server');
    client.machine.send('abc');
    const clientFrame = client.drain();
    t.is(clientFrame[1] & 0x80, 0x80);
    t.not(clientFrame.subarray(6).toString(), 'abc'); // masked on the wire (key 0 is 1 in 2^32)
    server.machine.send('abc');
    t.deepEqual([...server.drain()], [0x81, 3, 0x61, 0x62, 0x63]);
  });

  test(`[${kind}] a large payload goes out as header and payload without copying`, (t) => {
    const payload = Buffer.alloc(4096, 1);
    const chunks: Uint8Array[] = [];
    const server = new WebSocketProtocol(createCodec(kind), {
      message: () => {}, closeTransport: () => {},
      write: (first, second) => { chunks.push(first); if (second) chunks.push(second); },
    }, { role: 'server', maxPayload: 1 << 20 });
    server.send(payload);
    t.is(chunks.length, 2);
    t.deepEqual([...chunks[0]], [0x82, 126, 0x10, 0x00]);
    t.is(chunks[1], payload);
  });

  test(`[${kind}] server-initiated close completes when the client's close arrives`, (t) => {
    const client = endpoint(kind, 'client');
    const server = endpoint(kind, 'server');
    server.machine.close(1000, 'bye');
    t.is(server.machine.readyState, ReadyState.CLOSING);
    t.is(server.out.transportClosed, 0);
    t.false(server.machine.send('late'), 'no data after our close frame');
    pipe(server, client);
    t.is(client.machine.closeCode, 1000);
    t.is(client.machine.closeReason, 'bye');
    pipe(client, server);
    t.is(server.machine.readyState, ReadyState.CLOSED);
    t.is(server.machine.closeCode, 1000);
    t.is(server.out.transportClosed, 1, 'the server closes TCP first');
    t.is(client.out.transportClosed, 0, 'the client waits for the server to close TCP');
  });

  test(`[${kind}] data that arrives after our close frame is read but not delivered`, (t) => {
    const client = endpoint(kind, 'client');
    const server = endpoint(kind, 'server');
    server.machine.close();
    client.machine.send('in flight');
    pipe(client, server);
    t.is(server.out.messages.length, 0);
    t.is(server.machine.readyState, ReadyState.CLOSING);
  });

  test(`[${kind}] a peer that disappears without a close frame reports 1006`, (t) => {
    const server = endpoint(kind, 'server');
    server.machine.receiveEnd();
    t.is(server.machine.readyState, ReadyState.CLOSED);
    t.is(server.machine.closeCode, 1006);
  });

  test(`[${kind}] a ping gets a pong with the same payload; a pong reaches the sink`, (t) => {
    const client = endpoint(kind, 'client');
    const server = endpoint(kind, 'server');
    client.machine.ping(Buffer.from('are you there'));
    pipe(client, server, 2);
    pipe(server, client, 2);
    t.deepEqual(client.out.pongs.map(String), ['are you there']);
  });

  test(`[${kind}] a protocol error reports its close code and stops reading`, (t) => {
    const server = endpoint(kind, 'server');
    // Unmasked text frame "hi" followed by a valid masked frame that must be ignored.
    server.machine.receive(Buffer.from([0x81, 0x02, 0x68, 0x69, 0x81, 0x80, 1, 2, 3, 4]));
    t.is(server.machine.error?.code, 'WS_ERR_EXPECTED_MASK');
    t.is(server.machine.closeCode, 1002);
    t.deepEqual([...server.drain()], [0x88, 0x02, 0x03, 0xea]);
    t.is(server.out.transportClosed, 1);
    t.is(server.out.messages.length, 0);
  });

  test(`[${kind}] maxPayload counts the whole fragmented message`, (t) => {
    const server = endpoint(kind, 'server', 10);
    const frame = (opcode: number, fin: boolean, body: string) => {
      const payload = Buffer.from(body);
      return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
    };
    server.machine.receive(frame(1, false, '123456'));
    t.is(server.machine.error, undefined);
    server.machine.receive(frame(0, true, '7890X'));
    t.is(server.machine.error?.closeCode, 1009);
  });
}

for (const kind of CODEC_KINDS) {
  test(`[${kind}] isBetweenMessages: false inside a frame, a header or a fragmented message, true once it ends`, (t) => {
    const client = endpoint(kind, 'client');
    const states: boolean[] = [];
    const feed = (...bytes: number[]) => {
      client.machine.receive(Buffer.from(bytes));
      states.push(client.machine.isBetweenMessages);
    };
    t.true(client.machine.isBetweenMessages);
    feed(0x81); // half a header
    feed(0x03, 0x61); // header, a third of the payload
    feed(0x62, 0x63); // the frame ends
    feed(0x01, 0x01, 0x61); // a first fragment (FIN clear)
    feed(0x89, 0x00); // a ping between fragments
    feed(0x80, 0x01, 0x62); // the last fragment
    feed(0x89, 0x01); // a ping's header
    feed(0x70); // its payload
    t.deepEqual(states, [false, false, true, false, false, true, false, true]);
    t.deepEqual(client.out.messages.map((m) => m.data.toString()), ['abc', 'ab']);
    // Both pings answered: two masked pong frames (6 bytes empty, 7 with the 'p').
    const written = client.drain();
    t.deepEqual([written.length, written[0], written[6]], [13, 0x8a, 0x8a]);
  });
}
