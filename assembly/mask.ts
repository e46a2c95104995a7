/**
 * RFC 6455 §5.3 masking: payload byte i is XORed with mask key byte (i mod 4). The
 * operation is its own inverse, so one function masks and unmasks. A "phase" is the key
 * byte that applies to the first byte, so a payload split over chunks continues where
 * the previous part stopped.
 */

/** XORs [ptr, ptr+length) in place with maskKey (wire bytes read little-endian) from key byte `phase`; returns the next phase. */
export function mask(ptr: usize, length: usize, maskKey: u32, phase: u32): u32 {
  phase &= 3;
  // Rotate the key so that its low byte is the key byte for the first payload byte; every
  // block of 4 (and so of 16) bytes then starts at that same phase.
  const key = rotr<u32>(maskKey, phase << 3);
  const keys = i32x4.splat(key);
  const end = ptr + length;
  let p = ptr;
  // 64 bytes per iteration keeps four independent loads in flight.
  while (end - p >= 64) {
    v128.store(p, v128.xor(v128.load(p), keys));
    v128.store(p, v128.xor(v128.load(p, 16), keys), 16);
    v128.store(p, v128.xor(v128.load(p, 32), keys), 32);
    v128.store(p, v128.xor(v128.load(p, 48), keys), 48);
    p += 64;
  }
  while (end - p >= 16) {
    v128.store(p, v128.xor(v128.load(p), keys));
    p += 16;
  }
  while (end - p >= 4) {
    store<u32>(p, load<u32>(p) ^ key);
    p += 4;
  }
  let tail = key;
  while (p < end) {
    store<u8>(p, load<u8>(p) ^ <u8>tail);
    tail >>>= 8;
    p++;
  }
  return (phase + <u32>length) & 3;
}
