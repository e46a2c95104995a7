/**
 * Topic names and subscription patterns (NATS style): dot-separated segments; in a pattern,
 * `*` stands for exactly one segment and `>` for one or more trailing segments.
 *
 * `topicError` validates names; `SubscriptionIndex` maps patterns to subscribers as a trie over
 * segments, so `match()` walks only the trie paths a topic can take, not every pattern.
 */

/** Longest topic or pattern, in UTF-8 bytes. */
export const MAX_TOPIC_BYTES = 256;

const DOT = 0x2e;
const STAR = 0x2a;
const GT = 0x3e;

/**
 * Why `topic` is not a valid topic (or, with `allowWildcards`, pattern); `undefined` when valid.
 * Valid: 1..MAX_TOPIC_BYTES bytes of UTF-8, segments non-empty, no whitespace, control or
 * invisible format characters (Unicode category Cf: bidi overrides, zero-width characters,
 * which would let two different topics look the same); with `allowWildcards`, `*` and `>` only as whole segments and `>` only last;
 * without, neither may appear.
 */
export function topicError(topic: string, allowWildcards: boolean): string | undefined {
  if (typeof topic !== 'string' || topic.length === 0) return 'empty topic';
  // A UTF-16 unit never encodes to fewer than one UTF-8 byte: the cheap check first.
  if (topic.length > MAX_TOPIC_BYTES || Buffer.byteLength(topic, 'utf8') > MAX_TOPIC_BYTES) {
    return `topic longer than ${MAX_TOPIC_BYTES} bytes`;
  }
  let segmentStart = 0;
  let nonAscii = false;
  for (let i = 0; i <= topic.length; i++) {
    const c = i === topic.length ? DOT : topic.charCodeAt(i);
    if (c === DOT) {
      const length = i - segmentStart;
      if (length === 0) return 'empty segment';
      if (length === 1) {
        const only = topic.charCodeAt(segmentStart);
        if (only === STAR || only === GT) {
          if (!allowWildcards) return 'wildcards are not allowed in a topic';
          if (only === GT && i !== topic.length) return "'>' must be the last segment";
        }
      }
      segmentStart = i + 1;
    } else if (c === STAR || c === GT) {
      // A lone `*`/`>` segment is handled at its end; anything else is a partial wildcard.
      const wholeSegment = i === segmentStart && (i + 1 === topic.length || topic.charCodeAt(i + 1) === DOT);
      if (!wholeSegment) return allowWildcards ? 'a wildcard must be a whole segment' : 'wildcards are not allowed in a topic';
    } else if (c <= 0x20 || c === 0x7f) {
      return 'whitespace or control character';
    } else if (c >= 0x80) {
      nonAscii = true;
      if (isUnicodeSpaceOrControl(c)) return 'whitespace or control character';
      if (c >= 0xd800 && c <= 0xdfff) {
        // A lone surrogate has no UTF-8 encoding.
        const next = i + 1 < topic.length ? topic.charCodeAt(i + 1) : 0;
        if (c > 0xdbff || next < 0xdc00 || next > 0xdfff) return 'invalid UTF-16 (lone surrogate)';
        i++;
      }
    }
  }
  if (nonAscii && FORMAT_CHARACTER.test(topic)) return 'invisible format character (bidi control or zero-width)';
  return undefined;
}

/** Unicode's format characters: U+200B-U+200F, U+202A-U+202E, U+2060-U+2069, U+FEFF, tags… */
const FORMAT_CHARACTER = /\p{Cf}/u;

/** C1 controls and the Unicode White_Space characters above U+007F (plus the BOM, as /\s/ does). */
function isUnicodeSpaceOrControl(c: number): boolean {
  return (c >= 0x80 && c <= 0xa0) || c === 0x1680 || (c >= 0x2000 && c <= 0x200a)
    || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/** One trie node per pattern segment; it knows its parent, so removal walks up without a split. */
class TrieNode<S> {
  /** Literal next segments. */
  children: Map<string, TrieNode<S>> | undefined;
  /** The `*` next segment. */
  star: TrieNode<S> | undefined;
  /** Subscribers of the pattern that ends at this node. */
  subscribers: Set<Entry<S>> | undefined;
  /** Subscribers of this node's prefix followed by `>`. */
  rest: Set<Entry<S>> | undefined;

  constructor(readonly parent: TrieNode<S> | undefined, readonly segment: string) {}

  isEmpty(): boolean {
    return this.subscribers === undefined && this.rest === undefined && this.star === undefined
      && (this.children === undefined || this.children.size === 0);
  }
}

/** A subscriber as the index holds it: one entry, however many patterns it has. */
interface Entry<S> {
  readonly subscriber: S;
  readonly patterns: Set<string>;
  /** The match() that visited it last: several matching patterns still mean one visit. */
  visitedBy: number;
}

/** A subscribed pattern: its subscribers and the trie node they hang on. */
interface PatternRecord<S> {
  readonly entries: Set<Entry<S>>;
  readonly node: TrieNode<S>;
  /** The pattern ends in `>`: its set is `node.rest`, not `node.subscribers`. */
  readonly rest: boolean;
  readonly wildcard: boolean;
}

/**
 * Subscription patterns → subscribers. Patterns must be valid (`topicError(pattern, true)`),
 * or `add` throws a TypeError.
 *
 * Costs: match() visits only the trie nodes on paths that match the topic (each at most once,
 * so never more than the nodes there are) and each matching subscriber once; remove() is
 * O(pattern segments). Bounding how many patterns there are is the caller's job (the broker's
 * subscription limits): one subscriber's overlapping patterns still cost a set each per match.
 */
export class SubscriptionIndex<S> {
  readonly #root = new TrieNode<S>(undefined, '');
  /** Pattern → its record; only patterns with subscribers. */
  readonly #byPattern = new Map<string, PatternRecord<S>>();
  readonly #bySubscriber = new Map<S, Entry<S>>();
  /** (pattern, subscriber) pairs. */
  #size = 0;
  /** Patterns with a wildcard; while 0, match() is one Map lookup with no trie walk. */
  #wildcardPatterns = 0;
  /** Numbers the match() calls, for Entry.visitedBy. */
  #matchCount = 0;
  /** Scratch for match(), reused to avoid allocation; a re-entrant match() gets its own. */
  #matched: Set<Entry<S>>[] = [];
  #matching = false;

  /** Adds `subscriber` to `pattern`; true when newly added. */
  add(pattern: string, subscriber: S): boolean {
    const error = topicError(pattern, true);
    if (error !== undefined) throw new TypeError(`invalid subscription pattern ${JSON.stringify(pattern)}: ${error}`);
    let entry = this.#bySubscriber.get(subscriber);
    if (entry?.patterns.has(pattern)) return false;
    let record = this.#byPattern.get(pattern);
    if (record === undefined) {
      record = this.#attach(pattern);
      this.#byPattern.set(pattern, record);
      if (record.wildcard) this.#wildcardPatterns++;
    }
    if (entry === undefined) {
      entry = { subscriber, patterns: new Set(), visitedBy: 0 };
      this.#bySubscriber.set(subscriber, entry);
    }
    record.entries.add(entry);
    entry.patterns.add(pattern);
    this.#size++;
    return true;
  }

  /** Removes `subscriber` from `pattern`; true when it was there. Prunes emptied trie nodes. */
  remove(pattern: string, subscriber: S): boolean {
    const entry = this.#bySubscriber.get(subscriber);
    if (entry === undefined || !entry.patterns.delete(pattern)) return false;
    if (entry.patterns.size === 0) this.#bySubscriber.delete(subscriber);
    this.#unlink(pattern, entry);
    return true;
  }

  /** Removes `subscriber` from all its patterns; returns those patterns. */
  removeAll(subscriber: S): string[] {
    const entry = this.#bySubscriber.get(subscriber);
    if (entry === undefined) return [];
    this.#bySubscriber.delete(subscriber);
    const patterns = [...entry.patterns];
    entry.patterns.clear();
    for (const pattern of patterns) this.#unlink(pattern, entry);
    return patterns;
  }

  /** True when `subscriber` has `pattern`. */
  has(pattern: string, subscriber: S): boolean {
    return this.#bySubscriber.get(subscriber)?.patterns.has(pattern) ?? false;
  }

  /** Subscribers of exactly this pattern (not of other patterns that match the same topics). */
  subscriberCount(pattern: string): number {
    return this.#byPattern.get(pattern)?.entries.size ?? 0;
  }

  /** Patterns `subscriber` has. */
  patternCount(subscriber: S): number {
    return this.#bySubscriber.get(subscriber)?.patterns.size ?? 0;
  }

  /** (pattern, subscriber) pairs in the index. */
  get size(): number {
    return this.#size;
  }

  /** Patterns with at least one subscriber. */
  patterns(): IterableIterator<string> {
    return this.#byPattern.keys();
  }

  /**
   * False when no subscriber can match `topic`: none holds its exact pattern and none holds a
   * wildcard (true is a maybe while wildcards are held). One map lookup, no walk.
   */
  mayMatch(topic: string): boolean {
    return this.#wildcardPatterns !== 0 || this.#byPattern.has(topic);
  }

  /**
   * Calls `visit` once for each subscriber with a pattern matching `topic` (once even when
   * several of its patterns match); returns how many were visited. Allocates nothing per
   * subscriber: a subscriber seen through several patterns is told by its visitedBy mark.
   */
  match(topic: string, visit: (subscriber: S) => void): number {
    if (this.#wildcardPatterns === 0) {
      // Only exact patterns: exactly one can match, and a set holds each subscriber once.
      const record = this.#byPattern.get(topic);
      return record === undefined ? 0 : visitEach(record.entries, visit);
    }
    const reentrant = this.#matching;
    const matched = reentrant ? [] : this.#matched;
    this.#matching = true;
    try {
      collect(this.#root, topic.split('.'), 0, matched);
      if (matched.length === 0) return 0;
      if (matched.length === 1) return visitEach(matched[0]!, visit);
      return reentrant ? visitOnceWithSet(matched, visit) : this.#visitOnce(matched, visit);
    } finally {
      matched.length = 0;
      if (!reentrant) this.#matching = false;
    }
  }

  #visitOnce(matched: Set<Entry<S>>[], visit: (subscriber: S) => void): number {
    const mark = ++this.#matchCount;
    let count = 0;
    for (const set of matched) {
      for (const entry of set) {
        if (entry.visitedBy === mark) continue;
        entry.visitedBy = mark;
        visit(entry.subscriber);
        count++;
      }
    }
    return count;
  }

  /** Creates the trie path of `pattern` and a record with an empty set at its end. */
  #attach(pattern: string): PatternRecord<S> {
    const segments = pattern.split('.');
    const entries = new Set<Entry<S>>();
    const wildcard = hasWildcard(pattern);
    let node = this.#root;
    for (const segment of segments) {
      if (segment === '>') {
        node.rest = entries; // topicError guarantees `>` is last
        return { entries, node, rest: true, wildcard };
      }
      node = segment === '*' ? (node.star ??= new TrieNode(node, segment)) : childOf(node, segment);
    }
    node.subscribers = entries;
    return { entries, node, rest: false, wildcard };
  }

  /** Takes `entry` out of `pattern`'s set; an emptied pattern leaves the trie, pruned bottom-up. */
  #unlink(pattern: string, entry: Entry<S>): void {
    this.#size--;
    const record = this.#byPattern.get(pattern)!;
    record.entries.delete(entry);
    if (record.entries.size > 0) return;
    this.#byPattern.delete(pattern);
    if (record.wildcard) this.#wildcardPatterns--;
    let node = record.node;
    if (record.rest) node.rest = undefined;
    else node.subscribers = undefined;
    for (let parent = node.parent; parent !== undefined && node.isEmpty(); node = parent, parent = node.parent) {
      if (node === parent.star) parent.star = undefined;
      else {
        parent.children!.delete(node.segment);
        if (parent.children!.size === 0) parent.children = undefined;
      }
    }
  }
}

function visitEach<S>(set: Set<Entry<S>>, visit: (subscriber: S) => void): number {
  for (const entry of set) visit(entry.subscriber);
  return set.size;
}

/** A match() inside another one's visit: the outer one's marks must stay as they are. */
function visitOnceWithSet<S>(matched: Set<Entry<S>>[], visit: (subscriber: S) => void): number {
  const seen = new Set<Entry<S>>();
  for (const set of matched) {
    for (const entry of set) {
      if (seen.has(entry)) continue;
      seen.add(entry);
      visit(entry.subscriber);
    }
  }
  return seen.size;
}

function hasWildcard(pattern: string): boolean {
  // Valid patterns hold `*` and `>` only as whole segments.
  return pattern.includes('*') || pattern.includes('>');
}

function childOf<S>(node: TrieNode<S>, segment: string): TrieNode<S> {
  const children = (node.children ??= new Map());
  let child = children.get(segment);
  if (child === undefined) children.set(segment, (child = new TrieNode(node, segment)));
  return child;
}

/**
 * Pushes to `out` every subscriber set of `node`'s subtree that matches segments[i..]. Each node
 * has one path from the root, so each is reached at most once: the walk is bounded by the trie.
 */
function collect<S>(node: TrieNode<S>, segments: string[], i: number, out: Set<Entry<S>>[]): void {
  // `>` needs at least one more segment, and there is one at `i`.
  if (node.rest !== undefined) out.push(node.rest);
  const last = i === segments.length - 1;
  const child = node.children?.get(segments[i]!);
  if (child !== undefined) {
    if (!last) collect(child, segments, i + 1, out);
    else if (child.subscribers !== undefined) out.push(child.subscribers);
  }
  const star = node.star;
  if (star !== undefined) {
    if (!last) collect(star, segments, i + 1, out);
    else if (star.subscribers !== undefined) out.push(star.subscribers);
  }
}
