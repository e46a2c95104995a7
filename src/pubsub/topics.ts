/**
 * Topic names and subscription patterns (NATS style): dot-separated segments; in a pattern,
 * `*` stands for exactly one segment and `>` for one or more trailing segments.
 *
 * `topicError` validates names; `SubscriptionIndex` maps patterns to subscribers as a trie over
 * segments, so `match()` costs O(topic segments), not O(patterns).
 */

/** Longest topic or pattern, in UTF-8 bytes. */
export const MAX_TOPIC_BYTES = 256;

const DOT = 0x2e;
const STAR = 0x2a;
const GT = 0x3e;

/**
 * Why `topic` is not a valid topic (or, with `allowWildcards`, pattern); `undefined` when valid.
 * Valid: 1..MAX_TOPIC_BYTES bytes of UTF-8, segments non-empty, no whitespace or control
 * characters; with `allowWildcards`, `*` and `>` only as whole segments and `>` only last;
 * without, neither may appear.
 */
export function topicError(topic: string, allowWildcards: boolean): string | undefined {
  if (typeof topic !== 'string' || topic.length === 0) return 'empty topic';
  // A UTF-16 unit never encodes to fewer than one UTF-8 byte: the cheap check first.
  if (topic.length > MAX_TOPIC_BYTES || Buffer.byteLength(topic, 'utf8') > MAX_TOPIC_BYTES) {
    return `topic longer than ${MAX_TOPIC_BYTES} bytes`;
  }
  let segmentStart = 0;
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
      if (isUnicodeSpaceOrControl(c)) return 'whitespace or control character';
      if (c >= 0xd800 && c <= 0xdfff) {
        // A lone surrogate has no UTF-8 encoding.
        const next = i + 1 < topic.length ? topic.charCodeAt(i + 1) : 0;
        if (c > 0xdbff || next < 0xdc00 || next > 0xdfff) return 'invalid UTF-16 (lone surrogate)';
        i++;
      }
    }
  }
  return undefined;
}

/** C1 controls and the Unicode White_Space characters above U+007F (plus the BOM, as /\s/ does). */
function isUnicodeSpaceOrControl(c: number): boolean {
  return (c >= 0x80 && c <= 0xa0) || c === 0x1680 || (c >= 0x2000 && c <= 0x200a)
    || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/** One trie node per pattern segment. */
class TrieNode<S> {
  /** Literal next segments. */
  children: Map<string, TrieNode<S>> | undefined;
  /** The `*` next segment. */
  star: TrieNode<S> | undefined;
  /** Subscribers of the pattern that ends at this node. */
  subscribers: Set<S> | undefined;
  /** Subscribers of this node's prefix followed by `>`. */
  rest: Set<S> | undefined;

  isEmpty(): boolean {
    return this.subscribers === undefined && this.rest === undefined && this.star === undefined
      && (this.children === undefined || this.children.size === 0);
  }
}

/**
 * Subscription patterns → subscribers. Patterns must be valid (`topicError(pattern, true)`),
 * or `add` throws a TypeError.
 */
export class SubscriptionIndex<S> {
  readonly #root = new TrieNode<S>();
  /** Pattern → its subscriber set (the same Set the trie holds); only non-empty sets. */
  readonly #byPattern = new Map<string, Set<S>>();
  /** Subscriber → its patterns, for removeAll. */
  readonly #bySubscriber = new Map<S, Set<string>>();
  /** Patterns with a wildcard; while 0, match() is one Map lookup with no trie walk. */
  #wildcardPatterns = 0;
  /** Scratch for match(), reused to avoid allocation; a re-entrant match() gets its own. */
  #matched: Set<S>[] = [];
  #seen = new Set<S>();
  #matching = false;

  /** Adds `subscriber` to `pattern`; true when newly added. */
  add(pattern: string, subscriber: S): boolean {
    const error = topicError(pattern, true);
    if (error !== undefined) throw new TypeError(`invalid subscription pattern ${JSON.stringify(pattern)}: ${error}`);
    let patterns = this.#bySubscriber.get(subscriber);
    if (patterns?.has(pattern)) return false;
    let set = this.#byPattern.get(pattern);
    if (set === undefined) {
      set = new Set();
      this.#attach(pattern, set);
      this.#byPattern.set(pattern, set);
      if (hasWildcard(pattern)) this.#wildcardPatterns++;
    }
    set.add(subscriber);
    if (patterns === undefined) this.#bySubscriber.set(subscriber, (patterns = new Set()));
    patterns.add(pattern);
    return true;
  }

  /** Removes `subscriber` from `pattern`; true when it was there. Prunes emptied trie nodes. */
  remove(pattern: string, subscriber: S): boolean {
    const patterns = this.#bySubscriber.get(subscriber);
    if (patterns === undefined || !patterns.delete(pattern)) return false;
    if (patterns.size === 0) this.#bySubscriber.delete(subscriber);
    const set = this.#byPattern.get(pattern)!;
    set.delete(subscriber);
    if (set.size === 0) {
      this.#byPattern.delete(pattern);
      if (hasWildcard(pattern)) this.#wildcardPatterns--;
      this.#detach(pattern);
    }
    return true;
  }

  /** Removes `subscriber` from all its patterns; returns those patterns. */
  removeAll(subscriber: S): string[] {
    const patterns = this.#bySubscriber.get(subscriber);
    if (patterns === undefined) return [];
    const list = [...patterns];
    for (const pattern of list) this.remove(pattern, subscriber);
    return list;
  }

  /** Subscribers of exactly this pattern (not of other patterns that match the same topics). */
  subscriberCount(pattern: string): number {
    return this.#byPattern.get(pattern)?.size ?? 0;
  }

  /** Patterns with at least one subscriber. */
  patterns(): IterableIterator<string> {
    return this.#byPattern.keys();
  }

  /**
   * Calls `visit` once for each subscriber with a pattern matching `topic` (once even when
   * several of its patterns match); returns how many were visited. With a single matching
   * pattern this is a plain loop over one Set: the broadcast hot path allocates nothing per
   * subscriber.
   */
  match(topic: string, visit: (subscriber: S) => void): number {
    if (this.#wildcardPatterns === 0) {
      const set = this.#byPattern.get(topic);
      return set === undefined ? 0 : visitAll(set, visit);
    }
    const reentrant = this.#matching;
    const matched = reentrant ? [] : this.#matched;
    this.#matching = true;
    try {
      collect(this.#root, topic, 0, matched);
      if (matched.length === 0) return 0;
      if (matched.length === 1) return visitAll(matched[0]!, visit);
      // Several patterns match: a subscriber may be in more than one of their sets.
      const seen = reentrant ? new Set<S>() : this.#seen;
      try {
        for (const set of matched) {
          for (const subscriber of set) {
            if (seen.has(subscriber)) continue;
            seen.add(subscriber);
            visit(subscriber);
          }
        }
        return seen.size;
      } finally {
        seen.clear();
      }
    } finally {
      matched.length = 0;
      if (!reentrant) this.#matching = false;
    }
  }

  /** Creates the trie path of `pattern` and hangs `set` at its end. */
  #attach(pattern: string, set: Set<S>): void {
    const segments = pattern.split('.');
    let node = this.#root;
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      if (segment === '>') {
        node.rest = set; // topicError guarantees `>` is last
        return;
      }
      node = segment === '*' ? (node.star ??= new TrieNode()) : childOf(node, segment);
    }
    node.subscribers = set;
  }

  /** Unhangs the (empty) set of `pattern` and prunes the nodes left empty, bottom-up. */
  #detach(pattern: string): void {
    const segments = pattern.split('.');
    const path: TrieNode<S>[] = [this.#root];
    let node: TrieNode<S> | undefined = this.#root;
    const last = segments.length - 1;
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      if (segment === '>') {
        node.rest = undefined;
        break;
      }
      node = segment === '*' ? node.star : node.children?.get(segment);
      if (node === undefined) return; // not attached: nothing to prune
      path.push(node);
      if (i === last) node.subscribers = undefined;
    }
    // path[k] is reached from path[k - 1] through segments[k - 1].
    for (let k = path.length - 1; k > 0; k--) {
      if (!path[k]!.isEmpty()) return;
      const parent = path[k - 1]!;
      const segment = segments[k - 1]!;
      if (segment === '*') parent.star = undefined;
      else {
        parent.children!.delete(segment);
        if (parent.children!.size === 0) parent.children = undefined;
      }
    }
  }
}

function visitAll<S>(set: Set<S>, visit: (subscriber: S) => void): number {
  let count = 0;
  for (const subscriber of set) {
    visit(subscriber);
    count++;
  }
  return count;
}

function hasWildcard(pattern: string): boolean {
  // Valid patterns hold `*` and `>` only as whole segments.
  return pattern.includes('*') || pattern.includes('>');
}

function childOf<S>(node: TrieNode<S>, segment: string): TrieNode<S> {
  const children = (node.children ??= new Map());
  let child = children.get(segment);
  if (child === undefined) children.set(segment, (child = new TrieNode()));
  return child;
}

/** Pushes to `out` every subscriber set of `node`'s subtree that matches topic[start..]. */
function collect<S>(node: TrieNode<S>, topic: string, start: number, out: Set<S>[]): void {
  // `>` needs at least one more segment, and there is one at `start`.
  if (node.rest !== undefined) out.push(node.rest);
  const dot = topic.indexOf('.', start);
  const last = dot === -1;
  if (node.children !== undefined) {
    const child = node.children.get(last ? (start === 0 ? topic : topic.slice(start)) : topic.slice(start, dot));
    if (child !== undefined) {
      if (last) {
        if (child.subscribers !== undefined) out.push(child.subscribers);
      } else collect(child, topic, dot + 1, out);
    }
  }
  const star = node.star;
  if (star !== undefined) {
    if (last) {
      if (star.subscribers !== undefined) out.push(star.subscribers);
    } else collect(star, topic, dot + 1, out);
  }
}
