import test from 'ava';
import { MAX_TOPIC_BYTES, SubscriptionIndex, topicError } from '../../src/pubsub/topics.js';

/** [pattern, topic, matches] */
const MATCH_TABLE: Array<[string, string, boolean]> = [
  // exact
  ['a', 'a', true],
  ['a.b.c', 'a.b.c', true],
  ['a.b.c', 'a.b', false],
  ['a.b', 'a.b.c', false],
  ['a.b', 'a.c', false],
  // case sensitivity
  ['News.Sport', 'News.Sport', true],
  ['news.sport', 'News.sport', false],
  ['news.Sport', 'news.sport', false],
  // `*` in each position
  ['*.b.c', 'a.b.c', true],
  ['*.b.c', 'x.b.c', true],
  ['*.b.c', 'b.c', false],
  ['*.b.c', 'a.x.c', false],
  ['a.*.c', 'a.b.c', true],
  ['a.*.c', 'a.c', false],
  ['a.*.c', 'a.b.x.c', false],
  ['a.b.*', 'a.b.c', true],
  ['a.b.*', 'a.b', false],
  ['a.b.*', 'a.b.c.d', false],
  ['*.*', 'a.b', true],
  ['*.*', 'a', false],
  ['*.*', 'a.b.c', false],
  // `*` alone: single-segment topics only
  ['*', 'a', true],
  ['*', 'anything-at-all', true],
  ['*', 'a.b', false],
  // `>`: one or several trailing segments, never zero
  ['a.>', 'a.b', true],
  ['a.>', 'a.b.c.d', true],
  ['a.>', 'a', false],
  ['a.>', 'b.a', false],
  ['a.b.>', 'a.b.c', true],
  ['a.b.>', 'a.b', false],
  ['a.b.>', 'a.c.d', false],
  ['*.>', 'a.b', true],
  ['*.>', 'a.b.c', true],
  ['*.>', 'a', false],
  ['a.*.>', 'a.b.c', true],
  ['a.*.>', 'a.b', false],
  // `>` alone matches everything
  ['>', 'a', true],
  ['>', 'a.b', true],
  ['>', 'x.y.z.w', true],
  // non-ASCII and glob-looking characters are literal
  ['café.*', 'café.crème', true],
  ['a?.b', 'a?.b', true],
  ['a?.b', 'ax.b', false],
  ['[a].b', '[a].b', true],
  ['[a].b', 'a.b', false],
];

for (const [pattern, topic, expected] of MATCH_TABLE) {
  test(`pattern '${pattern}' ${expected ? 'matches' : 'does not match'} topic '${topic}'`, (t) => {
    t.is(topicError(pattern, true), undefined, 'the pattern is valid');
    t.is(topicError(topic, false), undefined, 'the topic is valid');
    const index = new SubscriptionIndex<string>();
    index.add(pattern, 's');
    // A non-matching decoy keeps the trie walk (not the exact-only fast path) in play.
    index.add('decoy.*', 'decoy');
    const visited: string[] = [];
    const count = index.match(topic, (s) => visited.push(s));
    t.deepEqual(visited, expected ? ['s'] : []);
    t.is(count, visited.length);
  });
}

test('exact-only index matches through the fast path with the same results', (t) => {
  const index = new SubscriptionIndex<number>();
  index.add('a.b', 1);
  index.add('a.b', 2);
  index.add('a', 3);
  const visited: number[] = [];
  t.is(index.match('a.b', (s) => visited.push(s)), 2);
  t.deepEqual(visited.sort(), [1, 2]);
  t.is(index.match('a.b.c', () => t.fail()), 0);
  t.is(index.match('A.b', () => t.fail()), 0);
});

/** [name, allowWildcards, reason substring] */
const INVALID: Array<[string, boolean, string]> = [
  ['', true, 'empty'],
  ['a'.repeat(MAX_TOPIC_BYTES + 1), false, 'longer'],
  ['é'.repeat(128) + 'a', false, 'longer'], // 257 bytes in 129 characters
  ['€'.repeat(85) + 'ab', true, 'longer'], // 255 + 2 = 257 bytes
  ['a..b', true, 'empty segment'],
  ['.a', true, 'empty segment'],
  ['a.', true, 'empty segment'],
  ['.', false, 'empty segment'],
  ['a b', false, 'whitespace'],
  ['a\tb', true, 'whitespace'],
  ['a\nb', true, 'whitespace'],
  ['a\u00a0b', false, 'whitespace'],
  ['a\u3000b', false, 'whitespace'],
  ['a\u0000b', false, 'control'],
  ['a\u007fb', false, 'control'],
  ['a\u0085b', false, 'control'],
  ['a.*', false, 'wildcards are not allowed'],
  ['a.>', false, 'wildcards are not allowed'],
  ['*', false, 'wildcards are not allowed'],
  ['a*', false, 'wildcards are not allowed'],
  ['a.>.b', true, "'>' must be the last segment"],
  ['>.a', true, "'>' must be the last segment"],
  ['a*', true, 'whole segment'],
  ['a.*b', true, 'whole segment'],
  ['a.b>', true, 'whole segment'],
  ['**', true, 'whole segment'],
  ['>>', true, 'whole segment'],
  ['a\ud800b', false, 'surrogate'],
  ['a\udc00', false, 'surrogate'],
  // Invisible format characters: two topics that look the same must be the same topic.
  ['pay\u202eyap', false, 'format character'], // right-to-left override
  ['a\u2066b\u2069', false, 'format character'], // isolates
  ['a\u200fb', false, 'format character'], // right-to-left mark
  ['news\u200b.sport', false, 'format character'], // zero-width space
  ['a\u200cb', false, 'format character'], // zero-width non-joiner
  ['a\u200db', false, 'format character'], // zero-width joiner
  ['a\u2060b', false, 'format character'], // word joiner
  ['a\u00adb', false, 'format character'], // soft hyphen
  ['flag\udb40\udc41', false, 'format character'], // U+E0041, a tag character
  ['news.\u200b', true, 'format character'],
  ['\u202e.>', true, 'format character'],
];

for (const [name, allowWildcards, reason] of INVALID) {
  test(`topicError rejects ${show(name)} (${allowWildcards ? 'pattern' : 'topic'}): ${reason}`, (t) => {
    const error = topicError(name, allowWildcards);
    t.truthy(error);
    t.true(error!.includes(reason), `reason was: ${error}`);
  });
}

/** A readable, unique test title for a name: escapes whitespace, controls and surrogates. */
function show(name: string): string {
  if (name.length > 40) return `'${name.slice(0, 8)}…' (${Buffer.byteLength(name)} bytes)`;
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    out += c > 0x20 && c < 0x7f ? name[i] : `\\u${c.toString(16).padStart(4, '0')}`;
  }
  return `'${out}'`;
}

test('topicError accepts 256-byte names (multibyte included) and valid wildcards', (t) => {
  t.is(topicError('a'.repeat(MAX_TOPIC_BYTES), false), undefined);
  t.is(topicError('€'.repeat(85) + 'a', false), undefined); // 256 bytes
  t.is(topicError('😀.x', false), undefined); // surrogate pair
  for (const pattern of ['*', '>', 'a.*', '*.a', 'a.>', '*.*.>', 'a.*.b.>']) {
    t.is(topicError(pattern, true), undefined, pattern);
  }
  t.is(topicError('a-b_c:d/e.f', false), undefined);
});

test('topicError accepts visible non-ASCII: accents, CJK, emoji, U+FFFD as a character', (t) => {
  for (const name of ['café.crème', '新闻.体育', '😀.🎉', 'a\ufffdb', 'Ünïcödé']) t.is(topicError(name, false), undefined, name);
});

test('one subscriber with 1 000 overlapping wildcard patterns is visited once per match', (t) => {
  const index = new SubscriptionIndex<string>();
  // Bit i of n makes segment i a `*`: 1 000 distinct patterns that all match a.a.a.a.a.a.a.a.a.a.
  for (let n = 0; n < 1000; n++) index.add(Array.from({ length: 10 }, (_, i) => ((n >> i) & 1 ? '*' : 'a')).join('.'), 'flooder');
  index.add('a.>', 'other');
  t.is(index.size, 1001);
  t.is(index.patternCount('flooder'), 1000);
  for (let round = 0; round < 3; round++) {
    const visited: string[] = [];
    t.is(index.match('a.a.a.a.a.a.a.a.a.a', (s) => visited.push(s)), 2);
    t.deepEqual(visited.sort(), ['flooder', 'other'], `round ${round}`);
  }
});

test('a re-entrant match inside a match of several patterns leaves the outer one visiting each subscriber once', (t) => {
  const index = new SubscriptionIndex<string>();
  for (const pattern of ['a.*', 'a.>', 'a.b']) index.add(pattern, 'x');
  index.add('a.*', 'y');
  const outer: string[] = [];
  const inner: string[] = [];
  index.match('a.b', (s) => {
    outer.push(s);
    if (outer.length === 1) index.match('a.b', (again) => inner.push(again));
  });
  t.deepEqual(outer.sort(), ['x', 'y']);
  t.deepEqual(inner.sort(), ['x', 'y']);
});

test('removeAll of 1 000 wildcard patterns empties the index and its trie', (t) => {
  const index = new SubscriptionIndex<string>();
  const patterns = Array.from({ length: 1000 }, (_, n) => Array.from({ length: 12 }, (_, i) => ((n >> i) & 1 ? '*' : 'a')).join('.'));
  for (const pattern of patterns) index.add(pattern, 'gone');
  t.is(index.removeAll('gone').length, 1000);
  t.is(index.size, 0);
  t.is(index.patternCount('gone'), 0);
  t.deepEqual([...index.patterns()], []);
  t.is(index.match('a.a.a.a.a.a.a.a.a.a.a.a', () => t.fail()), 0);
  // What was pruned can be built again.
  index.add(patterns[999]!, 'back');
  t.is(index.match('a.a.a.a.a.a.a.a.a.a.a.a', () => {}), 1);
});

test('add rejects an invalid pattern with a TypeError', (t) => {
  const index = new SubscriptionIndex<string>();
  t.throws(() => index.add('a..b', 's'), { instanceOf: TypeError });
  t.throws(() => index.add('a.>.b', 's'), { instanceOf: TypeError });
  t.deepEqual([...index.patterns()], []);
});

test('a subscriber with a.*, a.> and a.b is visited once for a.b', (t) => {
  const index = new SubscriptionIndex<string>();
  for (const pattern of ['a.*', 'a.>', 'a.b']) index.add(pattern, 'x');
  index.add('a.b', 'y');
  index.add('a.>', 'z');
  const visited: string[] = [];
  t.is(index.match('a.b', (s) => visited.push(s)), 3);
  t.deepEqual(visited.sort(), ['x', 'y', 'z']);
  visited.length = 0;
  t.is(index.match('a.c.d', (s) => visited.push(s)), 2, 'only a.> matches a.c.d');
  t.deepEqual(visited.sort(), ['x', 'z']);
  // The scratch state is reset between calls.
  visited.length = 0;
  t.is(index.match('a.b', (s) => visited.push(s)), 3);
});

test('match visits 1 000 subscribers of one topic, each once', (t) => {
  const index = new SubscriptionIndex<number>();
  for (let i = 0; i < 1000; i++) index.add('ticker.eur', i);
  index.add('ticker.*', 5); // overlaps with an existing subscriber
  let sum = 0;
  t.is(index.match('ticker.eur', (s) => { sum += s; }), 1000);
  t.is(sum, (999 * 1000) / 2);
});

test('a re-entrant match from inside visit sees its own results', (t) => {
  const index = new SubscriptionIndex<string>();
  index.add('a.*', 'outer');
  index.add('a.>', 'outer');
  index.add('b.*', 'inner');
  index.add('b.>', 'inner');
  const seen: string[] = [];
  index.match('a.x', (s) => {
    seen.push(s);
    index.match('b.x', (inner) => seen.push(inner));
  });
  t.deepEqual(seen, ['outer', 'inner']);
});

test('add and remove report changes; subscriberCount counts one exact pattern', (t) => {
  const index = new SubscriptionIndex<string>();
  t.true(index.add('a.*', 's1'));
  t.false(index.add('a.*', 's1'), 'already there');
  t.true(index.add('a.*', 's2'));
  t.true(index.add('a.b', 's1'));
  t.is(index.subscriberCount('a.*'), 2);
  t.is(index.subscriberCount('a.b'), 1);
  t.is(index.subscriberCount('a.>'), 0);
  t.true(index.remove('a.*', 's1'));
  t.false(index.remove('a.*', 's1'), 'no longer there');
  t.false(index.remove('never', 's1'));
  t.is(index.subscriberCount('a.*'), 1);
});

test('removeAll returns the patterns of the subscriber and leaves the others', (t) => {
  const index = new SubscriptionIndex<string>();
  for (const pattern of ['a', 'a.*', 'b.>', '>']) index.add(pattern, 'gone');
  index.add('a.*', 'stays');
  t.deepEqual(index.removeAll('gone').sort(), ['>', 'a', 'a.*', 'b.>']);
  t.deepEqual(index.removeAll('gone'), []);
  t.deepEqual([...index.patterns()], ['a.*']);
  const visited: string[] = [];
  index.match('a.x', (s) => visited.push(s));
  t.deepEqual(visited, ['stays']);
  t.is(index.match('b.x', () => t.fail()), 0);
});

test('removing every subscription prunes the trie', (t) => {
  const index = new SubscriptionIndex<number>();
  const patterns = ['a', 'a.b', 'a.b.c', 'a.*', 'a.*.c', 'a.>', '*', '*.>', '>', 'x.y.z.>'];
  patterns.forEach((pattern, i) => index.add(pattern, i));
  t.deepEqual([...index.patterns()].sort(), [...patterns].sort());
  // Remove in an order that leaves inner nodes holding children for a while.
  for (const pattern of ['a', '*', 'a.*', 'x.y.z.>', 'a.b', '>']) index.remove(pattern, patterns.indexOf(pattern));
  t.is(index.match('a.b.c', () => {}), 4, 'a.b.c, a.*.c, a.> and *.> still match');
  for (const pattern of ['a.b.c', 'a.*.c', 'a.>', '*.>']) index.remove(pattern, patterns.indexOf(pattern));
  t.deepEqual([...index.patterns()], []);
  for (const topic of ['a', 'a.b', 'a.b.c', 'x.y.z.w']) t.is(index.match(topic, () => t.fail()), 0, topic);
  // The pruned paths can be rebuilt and match again.
  index.add('a.*.c', 1);
  t.is(index.match('a.b.c', () => {}), 1);
});
