/**
 * A frame header written in TypeScript (RFC 6455 §5.2): the twin of the WASM codec's, used by
 * JsCodec and by the protocol's frame encoder, for which a header of a few bytes is not worth a
 * call into WASM.
 */

const TWO_POW_32 = 0x1_0000_0000;

export function writeHeaderJs(target: Uint8Array, offset: number, opcode: number, fin: boolean, length: number, maskKey?: number): number {
  let p = offset;
  target[p++] = (fin ? 0x80 : 0) | (opcode & 0x0f);
  const maskBit = maskKey === undefined ? 0 : 0x80;
  if (length < 126) {
    target[p++] = maskBit | length;
  } else if (length < 65536) {
    target[p++] = maskBit | 126;
    target[p++] = length >>> 8;
    target[p++] = length & 0xff;
  } else {
    target[p++] = maskBit | 127;
    const hi = Math.floor(length / TWO_POW_32);
    const lo = length >>> 0;
    target[p++] = hi >>> 24; target[p++] = (hi >>> 16) & 0xff; target[p++] = (hi >>> 8) & 0xff; target[p++] = hi & 0xff;
    target[p++] = lo >>> 24; target[p++] = (lo >>> 16) & 0xff; target[p++] = (lo >>> 8) & 0xff; target[p++] = lo & 0xff;
  }
  if (maskKey !== undefined) {
    target[p++] = maskKey & 0xff; target[p++] = (maskKey >>> 8) & 0xff;
    target[p++] = (maskKey >>> 16) & 0xff; target[p++] = maskKey >>> 24;
  }
  return p - offset;
}
