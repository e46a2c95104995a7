/**
 * Who may publish to a topic and subscribe to a pattern. An application that exports
 * `canSubscribe(conn, pattern)` / `canPublish(conn, topic)` decides for itself (say, from the
 * `conn.data` its `upgrade` hook set); without the hook, the server's public topics decide.
 *
 * Public topics are a list of prefixes: `news` makes `news` and every `news.…` topic public;
 * `*` in a prefix stands for any one segment, so the default, `*`, makes every topic public.
 * A pattern is public when its prefix segments are named, not wildcards: under `*`, `news.>`
 * is public and `>` or `*.sport` are not, so no client reads every topic by default. The one
 * entry `>` makes everything public, the root wildcards included.
 */
import type { PubSubRefusal } from './broker.js';
import { topicError } from './topics.js';

/** Every topic public; a pattern must name its first segment. */
export const DEFAULT_PUBLIC_TOPICS: readonly string[] = ['*'];
/** The entry that makes every topic and every pattern public. */
const EVERYTHING = '>';

/** Why `prefix` is not a public-topics entry; undefined when it is one. */
export function publicTopicError(prefix: string): string | undefined {
  if (typeof prefix !== 'string') return 'not a string';
  if (prefix === EVERYTHING) return undefined;
  if (prefix.split('.').includes(EVERYTHING)) return "'>' is only allowed as the whole entry";
  return topicError(prefix, true);
}

/** The application hooks; each returns true to allow. */
export interface PermissionHooks<C> {
  canSubscribe?(conn: C, pattern: string): boolean;
  canPublish?(conn: C, topic: string): boolean;
}

export class TopicPermissions<C> {
  readonly #prefixes: readonly (readonly string[])[];
  readonly #everything: boolean;
  readonly #hooks: PermissionHooks<C>;
  /** Counts refusals (the thread's broker stats). */
  readonly #stats: { forbidden: number };

  /** `publicTopics` must be valid entries (publicTopicError). */
  constructor(publicTopics: readonly string[], hooks: PermissionHooks<C>, stats: { forbidden: number }) {
    this.#everything = publicTopics.includes(EVERYTHING);
    this.#prefixes = publicTopics.map((prefix) => prefix.split('.'));
    this.#hooks = hooks;
    this.#stats = stats;
  }

  /** Undefined when `conn` may subscribe to the (valid) `pattern`, else the refusal. */
  subscribe(conn: C, pattern: string): PubSubRefusal | undefined {
    const hook = this.#hooks.canSubscribe;
    const allowed = hook === undefined ? this.#isPublic(pattern, true) : verdict('canSubscribe', hook.call(this.#hooks, conn, pattern));
    return allowed ? undefined : this.#refuse('this connection may not subscribe to this pattern');
  }

  /** Undefined when `conn` may publish to the (valid) `topic`, else the refusal. */
  publish(conn: C, topic: string): PubSubRefusal | undefined {
    const hook = this.#hooks.canPublish;
    const allowed = hook === undefined ? this.#isPublic(topic, false) : verdict('canPublish', hook.call(this.#hooks, conn, topic));
    return allowed ? undefined : this.#refuse('this connection may not publish to this topic');
  }

  #isPublic(name: string, isPattern: boolean): boolean {
    if (this.#everything) return true;
    for (const prefix of this.#prefixes) {
      if (underPrefix(prefix, name, isPattern)) return true;
    }
    return false;
  }

  #refuse(message: string): PubSubRefusal {
    this.#stats.forbidden++;
    return { code: 'forbidden', message };
  }
}

/** A hook's answer; anything but a boolean (a Promise, say) is the application's mistake. */
function verdict(hook: string, answer: unknown): boolean {
  if (typeof answer !== 'boolean') throw new TypeError(`${hook} must return true or false, got ${typeof answer}`);
  return answer;
}

/**
 * True when `name`'s first segments match `prefix` (`*` there matches any one segment); in a
 * pattern those segments must be literals, or the pattern would reach past the prefix.
 */
function underPrefix(prefix: readonly string[], name: string, isPattern: boolean): boolean {
  let start = 0;
  for (const wanted of prefix) {
    if (start > name.length) return false; // fewer segments than the prefix
    let end = name.indexOf('.', start);
    if (end === -1) end = name.length;
    const length = end - start;
    if (isPattern && length === 1 && (name[start] === '*' || name[start] === '>')) return false;
    if (wanted !== '*' && (length !== wanted.length || !name.startsWith(wanted, start))) return false;
    start = end + 1;
  }
  return true;
}
