/**
 * Drives WebSocketProtocol (the sans-I/O core) without sockets, in the style of
 * python-websockets' tests/test_protocol.py: feed bytes with receive(), then assert what the
 * machine delivered (assertEvents), wrote (assertFramesSent, with or without the end of the
 * transport) and how it ended (assertClosing, assertFailed). Every rule runs once per codec and
 * once per way of feeding the bytes (whole, and one byte per receive()), through rules().
 *
 * Frames to receive come from raw-client.ts's builder and frames sent are parsed here: neither
 * shares code with src/, so the tests check the machine independently.
 */
import type { ExecutionContext, TestFn } from 'ava';
import type { CodecKind } from '../../src/codec/codec.js';
import { createCodec } from '../../src/codec/select.js';
import { ReadyState, WebSocketProtocol, type ProtocolOptions, type Role } from '../../src/protocol/protocol.js';
import { CODEC_KINDS } from './codecs.js';
import { Op } from './raw-client.js';

/** How receive() hands bytes to the machine: as given, or one byte per call. */
export type Feed = 'whole' | 'bytewise';
export const FEEDS: readonly Feed[] = ['whole', 'bytewise'];

/** What the machine delivered to its sink, in order: messages and pongs. */
export type Event = ['text', string] | ['binary', Buffer] | ['pong', Buffer];

/** A frame as written by the machine (payload unmasked). */
export interface SentFrame {
  opcode: number;
  payload: Buffer;
  fin: boolean;
  /** RSV1-3 as in the first header byte (0x70). */
  rsv: number;
  masked: boolean;
}

/** A frame expected on the wire; fin defaults to true and rsv to 0. */
export interface ExpectedFrame {
  opcode: number;
  payload?: Uint8Array | string;
  fin?: boolean;
  rsv?: number;
}

export interface Peer {
  readonly protocol: WebSocketProtocol;
  readonly role: Role;
  readonly feed: Feed;
  /** Delivered since the last assertEvents. */
  events: Event[];
  /** Written since the last assertFramesSent. */
  written: Buffer[];
  /** closeTransport() calls since the last assertFramesSent. */
  transportClosed: number;
}

export interface PeerOptions extends Partial<Omit<ProtocolOptions, 'role'>> {}

export function peer(kind: CodecKind, role: Role, feed: Feed = 'whole', options: PeerOptions = {}): Peer {
  const self: Peer = {
    role, feed, events: [], written: [], transportClosed: 0,
    protocol: undefined as unknown as WebSocketProtocol,
  };
  (self as { protocol: WebSocketProtocol }).protocol = new WebSocketProtocol(createCodec(kind), {
    message: (data, isBinary) => self.events.push(isBinary ? ['binary', Buffer.from(data)] : ['text', data.toString('utf8')]),
    pong: (data) => self.events.push(['pong', Buffer.from(data)]),
    write: (first, second) => {
      if (self.transportClosed > 0) throw new Error('the machine wrote after closing the transport');
      self.written.push(Buffer.from(first));
      if (second !== undefined) self.written.push(Buffer.from(second));
    },
    closeTransport: () => { self.transportClosed++; },
  }, { maxPayload: 1 << 20, ...options, role });
  return self;
}

/** One rule of the RFC, run for each codec and each feed; `c` makes the peers of the case. */
export interface Case {
  kind: CodecKind;
  feed: Feed;
  server(options?: PeerOptions): Peer;
  client(options?: PeerOptions): Peer;
}

export function rules(test: TestFn) {
  return (title: string, body: (t: ExecutionContext, c: Case) => void): void => {
    for (const kind of CODEC_KINDS) {
      for (const feed of FEEDS) {
        test(`[${kind}, ${feed}] ${title}`, (t) => body(t, {
          kind, feed,
          server: (options) => peer(kind, 'server', feed, options),
          client: (options) => peer(kind, 'client', feed, options),
        }));
      }
    }
  };
}

/**
 * Feeds bytes as received from the transport: each chunk whole, or byte by byte for a bytewise
 * peer. Each chunk is copied first: the machine unmasks in place, and a test may reuse its bytes.
 */
export function receive(p: Peer, ...chunks: Uint8Array[]): void {
  for (const given of chunks) {
    const chunk = Uint8Array.from(given);
    if (p.feed === 'whole') p.protocol.receive(chunk);
    else for (let i = 0; i < chunk.length; i++) p.protocol.receive(chunk.subarray(i, i + 1));
  }
}

/** Parses frames out of bytes written by either role. */
export function parseFrames(bytes: Buffer): SentFrame[] {
  const frames: SentFrame[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 2) throw new Error(`a partial frame header at byte ${at}`);
    const masked = (bytes[at + 1] & 0x80) !== 0;
    const length7 = bytes[at + 1] & 0x7f;
    const keyAt = at + 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0);
    const length = length7 < 126 ? length7 : length7 === 126 ? bytes.readUInt16BE(at + 2) : Number(bytes.readBigUInt64BE(at + 2));
    const offset = keyAt + (masked ? 4 : 0);
    if (offset + length > bytes.length) throw new Error(`a partial frame payload at byte ${at}`);
    const payload = Buffer.from(bytes.subarray(offset, offset + length));
    if (masked) for (let i = 0; i < length; i++) payload[i] ^= bytes[keyAt + (i & 3)];
    frames.push({ opcode: bytes[at] & 0x0f, fin: (bytes[at] & 0x80) !== 0, rsv: bytes[at] & 0x70, masked, payload });
    at = offset + length;
  }
  return frames;
}

/** Takes what the peer wrote since the last call, as frames. */
export function takeFrames(p: Peer): SentFrame[] {
  const bytes = Buffer.concat(p.written);
  p.written = [];
  return parseFrames(bytes);
}

const bytesOf = (payload: Uint8Array | string | undefined): Buffer =>
  typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload ?? []);

/**
 * The peer wrote exactly these frames since the last call (masked as its role requires), and
 * closed the transport after them when `eof`; takes them.
 */
export function assertFramesSent(t: ExecutionContext, p: Peer, expected: readonly ExpectedFrame[], eof = false): void {
  const sent = takeFrames(p);
  t.deepEqual(
    sent.map((f) => ({ opcode: f.opcode, payload: f.payload.toString('hex'), fin: f.fin, rsv: f.rsv })),
    expected.map((f) => ({ opcode: f.opcode, payload: bytesOf(f.payload).toString('hex'), fin: f.fin ?? true, rsv: f.rsv ?? 0 })),
    'frames sent',
  );
  // RFC 6455 §5.1: a client masks every frame, a server none.
  t.true(sent.every((f) => f.masked === (p.role === 'client')), 'masking by role');
  t.is(p.transportClosed, eof ? 1 : 0, eof ? 'the transport closed once' : 'the transport still open');
  p.transportClosed = 0;
}

export function assertNothingSent(t: ExecutionContext, p: Peer): void {
  assertFramesSent(t, p, []);
}

/** The peer delivered exactly these events since the last call; takes them. */
export function assertEvents(t: ExecutionContext, p: Peer, expected: readonly Event[]): void {
  t.deepEqual(p.events.map(show), expected.map(show), 'events delivered');
  p.events = [];
}

function show(event: Event): string {
  return event[0] === 'text' ? `text ${JSON.stringify(event[1])}` : `${event[0]} ${event[1].toString('hex')}`;
}

/** A close frame's expected payload: none for undefined, else the code and reason. */
export function closePayload(code?: number, reason = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const reasonBytes = Buffer.from(reason, 'utf8');
  const payload = Buffer.alloc(2 + reasonBytes.length);
  payload.writeUInt16BE(code);
  reasonBytes.copy(payload, 2);
  return payload;
}

/**
 * A close frame was received: "Start the WebSocket Closing Handshake" (RFC 6455 §7.1.2). The peer
 * echoed its code (no payload for none), is CLOSED, reports the code received (1005 for none),
 * and a server closed the transport (§7.1.1: the server closes TCP first).
 */
export function assertClosing(t: ExecutionContext, p: Peer, code?: number, reason = ''): void {
  assertFramesSent(t, p, [{ opcode: Op.CLOSE, payload: closePayload(code) }], p.role === 'server');
  t.is(p.protocol.readyState, ReadyState.CLOSED, 'CLOSED');
  t.is(p.protocol.closeCode, code ?? 1005, 'the close code received');
  t.is(p.protocol.closeReason, reason, 'the close reason received');
  t.is(p.protocol.error, undefined, 'no protocol error');
}

/**
 * The received bytes broke a rule: "Fail the WebSocket Connection" (RFC 6455 §7.1.7). The peer
 * sent a close frame with `closeCode` and no reason, closed the transport, is CLOSED, and
 * reports the error by its stable code.
 */
export function assertFailed(t: ExecutionContext, p: Peer, closeCode: number, errorCode: string): void {
  assertFramesSent(t, p, [{ opcode: Op.CLOSE, payload: closePayload(closeCode) }], true);
  t.is(p.protocol.readyState, ReadyState.CLOSED, 'CLOSED');
  t.is(p.protocol.closeCode, closeCode, 'the close code');
  t.is(p.protocol.error?.code, errorCode, 'the error code');
  t.is(p.protocol.error?.closeCode, closeCode);
}
