/**
 * JSON-like filler text for compressed runs (`--payload json`): a stream of small records with
 * varied keys and values, as an API or a ticker sends, so that permessage-deflate gets data that
 * compresses the way real messages do (repeated keys and structure, varied values), not the
 * trivial 100:1 of one repeated byte. Deterministic: every run and every server sees the same text.
 */

const KEYS = ['id', 'name', 'price', 'qty', 'side', 'ts', 'symbol', 'status', 'user', 'tags', 'score', 'region', 'active', 'note'];
const WORDS = ['alpha', 'bravo', 'delta', 'echo', 'kilo', 'lima', 'nova', 'orbit', 'pixel', 'quartz', 'rho', 'sigma', 'tango', 'umbra',
  'vega', 'zulu', 'amber', 'cobalt', 'ember', 'frost'];

/** xorshift32: a fixed seed gives the same text every time. */
function randomSource(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

/**
 * `length` bytes of ASCII JSON-like text, `quote` as the string delimiter: '"' gives JSON records;
 * "'" gives text that can sit inside a JSON string unescaped (the broadcast's data).
 */
export function jsonLikeText(length: number, quote = '"', seed = 0x5eed): string {
  const random = randomSource(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const parts: string[] = [];
  let total = 0;
  while (total < length) {
    const fields: string[] = [];
    const count = 3 + Math.floor(random() * 5);
    for (let i = 0; i < count; i++) {
      const key = pick(KEYS);
      const r = random();
      const value = r < 0.35 ? String(Math.floor(random() * 100_000))
        : r < 0.55 ? (random() * 1000).toFixed(2)
          : r < 0.65 ? String(random() < 0.5)
            : `${quote}${pick(WORDS)}${random() < 0.5 ? `-${Math.floor(random() * 1000)}` : ''}${quote}`;
      fields.push(`${quote}${key}${quote}:${value}`);
    }
    const record = `{${fields.join(',')}},`;
    parts.push(record);
    total += record.length;
  }
  return parts.join('').slice(0, length);
}
