/**
 * The server's permessage-deflate options (`listen({ deflate })`, `--deflate`): validated once,
 * up front, into plain settings that every connection server (and every worker) gets a copy of.
 */
import type { CompressorSettings } from '../protocol/compression.js';

export interface DeflateOptions {
  /** Outgoing messages smaller than this many bytes are sent uncompressed. Default 1024. */
  threshold?: number;
  /**
   * Outgoing messages larger than this are sent uncompressed, so that one (synchronous) deflate
   * call stays short. Default 131072 (128 KiB, about 1 ms at level 6 here).
   */
  maxCompressBytes?: number;
  /** zlib level, 0 (store) to 9. Default 6, zlib's own default. */
  level?: number;
  /** zlib memLevel, 1-9: the compressor's hash table is 2^(memLevel + 9) bytes. Default 8. */
  memLevel?: number;
  /** The largest LZ77 window the server compresses with, 2^8 to 2^15 bytes. Default 15. */
  serverMaxWindowBits?: number;
  /**
   * The largest window the server lets a client compress with (its inflating window), 8-15.
   * Default 15. Below 15, offers without client_max_window_bits are declined (RFC 7692 §7.1.2.2).
   */
  clientMaxWindowBits?: number;
  /**
   * The server resets its compressor after every message (server_no_context_takeover, sent even
   * when not asked for). Default true: a broadcast is then compressed once for every such
   * subscriber, and a connection keeps nothing between messages.
   */
  serverNoContextTakeover?: boolean;
  /**
   * Asks clients to reset their compressor after every message (client_no_context_takeover),
   * so the server keeps no window for them between messages. Default true.
   */
  clientNoContextTakeover?: boolean;
}

/** Resolved options: every field set, plain data (copied to workers). */
export interface DeflateSettings extends CompressorSettings {
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
}

export const DEFLATE_DEFAULTS: Readonly<DeflateSettings> = {
  threshold: 1024,
  maxCompressBytes: 128 * 1024,
  level: 6,
  memLevel: 8,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
};

const MAX_BYTES = 2 ** 31 - 1;

/**
 * `true` → the defaults, `false`/`undefined` → off (undefined), an object → its options over the
 * defaults. Throws a TypeError naming the option for anything else.
 */
export function resolveDeflateOptions(value: boolean | DeflateOptions | undefined): DeflateSettings | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { ...DEFLATE_DEFAULTS };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`deflate must be true, false or an options object, got ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(DEFLATE_DEFAULTS, key)) {
      throw new TypeError(`deflate: unknown option "${key}" (known: ${Object.keys(DEFLATE_DEFAULTS).join(', ')})`);
    }
  }
  const settings: DeflateSettings = {
    threshold: integer(value, 'threshold', 0, MAX_BYTES),
    maxCompressBytes: integer(value, 'maxCompressBytes', 0, MAX_BYTES),
    level: integer(value, 'level', 0, 9),
    memLevel: integer(value, 'memLevel', 1, 9),
    serverMaxWindowBits: integer(value, 'serverMaxWindowBits', 8, 15),
    clientMaxWindowBits: integer(value, 'clientMaxWindowBits', 8, 15),
    serverNoContextTakeover: boolean(value, 'serverNoContextTakeover'),
    clientNoContextTakeover: boolean(value, 'clientNoContextTakeover'),
  };
  if (settings.maxCompressBytes < settings.threshold) {
    throw new TypeError(`deflate.maxCompressBytes (${settings.maxCompressBytes}) must not be below deflate.threshold (${settings.threshold})`);
  }
  return settings;
}

type NumericOption = 'threshold' | 'maxCompressBytes' | 'level' | 'memLevel' | 'serverMaxWindowBits' | 'clientMaxWindowBits';

function integer(options: DeflateOptions, name: NumericOption, min: number, max: number): number {
  const value: unknown = options[name];
  if (value === undefined) return DEFLATE_DEFAULTS[name];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`deflate.${name} must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

function boolean(options: DeflateOptions, name: 'serverNoContextTakeover' | 'clientNoContextTakeover'): boolean {
  const value: unknown = options[name];
  if (value === undefined) return DEFLATE_DEFAULTS[name];
  if (typeof value !== 'boolean') throw new TypeError(`deflate.${name} must be a boolean, got ${describe(value)}`);
  return value;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : Array.isArray(value) ? 'an array' : String(value);
}
