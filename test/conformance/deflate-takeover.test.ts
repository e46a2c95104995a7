/**
 * Conformance, permessage-deflate with context takeover (RFC 7692 §7.1.1) on raw sockets, in
 * every mode and with both codecs: the echo server allows context takeover both ways, the raw
 * client compresses each message with its previous messages as the window and inflates the
 * server's messages with one zlib stream for the connection.
 */
import test from 'ava';
import { RawClient, close, Op, RSV1, type ServerFrame } from '../helpers/raw-client.js';
import { conformanceSuite } from '../helpers/conformance-suite.js';
import { ContextInflater, compressedFrame, deflate, inflate } from '../helpers/deflate.js';

const conformance = conformanceSuite(test, { deflate: { serverNoContextTakeover: false, clientNoContextTakeover: false } });

/** A client-side compressor with context takeover: the window is its own previous messages. */
function contextDeflater(windowBits = 15) {
  let window = Buffer.alloc(0);
  return (message: Buffer): Buffer => {
    const compressed = deflate(message, { windowBits, ...(window.length > 0 ? { dictionary: window } : {}) });
    window = Buffer.concat([window, message]).subarray(-(1 << windowBits));
    return compressed;
  };
}

const messages = Array.from({ length: 6 }, (_, i) => Buffer.from(`{"seq":${i},"text":"${'context takeover keeps the window '.repeat(40)}"}`));

async function echoWithTakeover(port: number, offer: string, windowBits = 15) {
  const client = await RawClient.connect(port, { extensions: offer });
  const compress = contextDeflater(windowBits);
  for (const message of messages) await client.send(compressedFrame(Op.TEXT, compress(message)));
  const frames = await client.nextFrames(messages.length);
  return { client, frames };
}

async function inflateAll(frames: ServerFrame[]): Promise<Buffer[]> {
  const inflater = new ContextInflater();
  try {
    const out = [];
    for (const frame of frames) out.push(await inflater.inflate(frame.payload));
    return out;
  } finally {
    inflater.close();
  }
}

conformance('a bare offer is accepted with context takeover both ways: no parameters in the response', async (t, port) => {
  const client = await RawClient.connect(port, { extensions: 'permessage-deflate' });
  t.is(client.extensions, 'permessage-deflate');
  client.destroy();
});

conformance('messages compressed against the previous ones echo intact, and the server compresses against its own previous ones', async (t, port) => {
  const { client, frames } = await echoWithTakeover(port, 'permessage-deflate; client_max_window_bits');
  t.true(frames.every((f) => (f.rsv & RSV1) !== 0 && f.opcode === Op.TEXT));
  const echoed = await inflateAll(frames);
  for (let i = 0; i < messages.length; i++) t.true(echoed[i].equals(messages[i]), `message ${i}`);
  t.true(frames[1].payload.length < frames[0].payload.length / 2, 'the second message refers back to the first');
  t.throws(() => inflate(frames[1].payload), undefined, 'and cannot be inflated alone');
  await client.send(close(1000));
  t.is((await client.untilClosed()).closeCode, 1000);
});

conformance('server_no_context_takeover offered is honoured: every echo inflates on its own', async (t, port) => {
  const { client, frames } = await echoWithTakeover(port, 'permessage-deflate; server_no_context_takeover');
  t.is(client.extensions, 'permessage-deflate; server_no_context_takeover');
  for (let i = 0; i < messages.length; i++) t.true(inflate(frames[i].payload).equals(messages[i]), `message ${i}`);
  client.destroy();
});

conformance('smaller windows both ways (server_max_window_bits=9, client_max_window_bits=10) echo intact', async (t, port) => {
  const { client, frames } = await echoWithTakeover(port, 'permessage-deflate; server_max_window_bits=9; client_max_window_bits=10', 10);
  t.is(client.extensions, 'permessage-deflate; server_max_window_bits=9; client_max_window_bits=10');
  const echoed = await inflateAll(frames);
  for (let i = 0; i < messages.length; i++) t.true(echoed[i].equals(messages[i]), `message ${i}`);
  client.destroy();
});
