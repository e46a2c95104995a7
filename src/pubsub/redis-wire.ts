/**
 * The backplane's message on a `wasmsocket:<topic>` channel (one Buffer):
 *   [version u8 = 1][flags u8: bit0 binary][nodeId length u8][nodeId UTF-8][seq u64 BE][payload]
 * and, for a publish that keeps history (written by the Lua script of redis-history.ts, which
 * appends what follows the header):
 *   [version u8 = 2][flags][nodeId length][nodeId][seq u64 BE][offset length u8][offset ASCII]
 *   [epoch length u8][epoch][delivery with its offset]
 */

export const CHANNEL_PREFIX = 'wasmsocket:';
export const CHANNEL_PREFIX_BYTES = Buffer.byteLength(CHANNEL_PREFIX);
export const VERSION = 1;
export const VERSION_WITH_OFFSET = 2;
const FLAG_BINARY = 1;
/** version, flags, nodeId length. */
const FIXED_HEADER = 3;
const SEQ_BYTES = 8;
const TWO_POW_32 = 2 ** 32;

/** Bytes of a header for a node id of `nodeIdLength` bytes. */
export function headerLength(nodeIdLength: number): number {
  return FIXED_HEADER + nodeIdLength + SEQ_BYTES;
}

/** A version 1 message: header and payload in one buffer. */
export function encodeMessage(nodeId: Buffer, seq: number, payload: Uint8Array, isBinary: boolean): Buffer {
  const header = headerLength(nodeId.length);
  const message = Buffer.allocUnsafe(header + payload.length);
  writeHeader(message, nodeId, VERSION, seq, isBinary);
  message.set(payload, header);
  return message;
}

/** The header alone (a history publish's: the Lua script appends the rest). */
export function encodeHeader(nodeId: Buffer, version: number, seq: number, isBinary: boolean): Buffer {
  const header = Buffer.allocUnsafe(headerLength(nodeId.length));
  writeHeader(header, nodeId, version, seq, isBinary);
  return header;
}

function writeHeader(message: Buffer, nodeId: Buffer, version: number, seq: number, isBinary: boolean): void {
  message[0] = version;
  message[1] = isBinary ? FLAG_BINARY : 0;
  message[2] = nodeId.length;
  nodeId.copy(message, FIXED_HEADER);
  // seq as u64 BE from a JS number: exact up to 2^53, far beyond any process's publish count.
  message.writeUInt32BE(Math.floor(seq / TWO_POW_32), FIXED_HEADER + nodeId.length);
  message.writeUInt32BE(seq >>> 0, FIXED_HEADER + nodeId.length + 4);
}

/** A message read back; its origin and payload are ranges of the buffer, not copies. */
export interface DecodedMessage {
  /** The origin's node id is message[FIXED_HEADER, originEnd). */
  readonly originEnd: number;
  readonly seq: number;
  readonly isBinary: boolean;
  /** Version 2 only (epochOf reads its epoch). */
  readonly offset: number | undefined;
  /** Where version 2's epoch length byte is (-1 in version 1). */
  readonly epochAt: number;
  /** Where the payload (a history publish's delivery, with its offset) starts. */
  readonly payloadAt: number;
}

/** Undefined for a message that is not ours or is cut short. */
export function decodeMessage(message: Buffer): DecodedMessage | undefined {
  const idLength = message.length >= FIXED_HEADER ? message[2]! : 0;
  const seqAt = FIXED_HEADER + idLength;
  let payloadAt = seqAt + SEQ_BYTES;
  const version = message[0];
  let offset: number | undefined;
  let epochAt = -1;
  if (version === VERSION_WITH_OFFSET && message.length > payloadAt) {
    const digits = message[payloadAt]!;
    offset = Number(message.toString('latin1', payloadAt + 1, payloadAt + 1 + digits));
    epochAt = payloadAt + 1 + digits;
    payloadAt = epochAt + 1 + (message.length > epochAt ? message[epochAt]! : 0);
  }
  if (message.length < payloadAt || (version !== VERSION && !(offset! > 0)) || idLength === 0) return undefined;
  return {
    originEnd: seqAt,
    seq: message.readUInt32BE(seqAt) * TWO_POW_32 + message.readUInt32BE(seqAt + 4),
    isBinary: (message[1]! & FLAG_BINARY) !== 0,
    offset,
    epochAt,
    payloadAt,
  };
}

/** Whether the message's origin is the node `nodeId`. */
export function isFrom(message: Buffer, decoded: DecodedMessage, nodeId: Buffer): boolean {
  return decoded.originEnd - FIXED_HEADER === nodeId.length && nodeId.equals(message.subarray(FIXED_HEADER, decoded.originEnd));
}

/** A version 2 message's epoch. */
export function epochOf(message: Buffer, decoded: DecodedMessage): string {
  return message.toString('utf8', decoded.epochAt + 1, decoded.payloadAt);
}

/** The origin's node id as a string. */
export function originOf(message: Buffer, decoded: DecodedMessage): string {
  return message.toString('utf8', FIXED_HEADER, decoded.originEnd);
}
