/** Topic permissions: the public-topics rule, and the application's hooks in its place. */
import test from 'ava';
import { DEFAULT_PUBLIC_TOPICS, publicTopicError, TopicPermissions, type PermissionHooks } from '../../src/pubsub/permissions.js';

interface Conn { user: string }
const conn: Conn = { user: 'ann' };

function permissions(publicTopics: readonly string[], hooks: PermissionHooks<Conn> = {}) {
  const stats = { forbidden: 0 };
  return { stats, check: new TopicPermissions<Conn>(publicTopics, hooks, stats) };
}

test('by default every topic is public and a pattern must name its first segment', (t) => {
  const { check, stats } = permissions(DEFAULT_PUBLIC_TOPICS);
  for (const topic of ['a', 'news.sport', 'x.y.z']) t.is(check.publish(conn, topic), undefined, topic);
  for (const pattern of ['news', 'news.*', 'news.>', 'a.*.b.>']) t.is(check.subscribe(conn, pattern), undefined, pattern);
  for (const pattern of ['>', '*', '*.sport', '*.>']) t.like(check.subscribe(conn, pattern), { code: 'forbidden' }, pattern);
  t.is(stats.forbidden, 4);
});

test("'>' makes everything public, the root wildcards included", (t) => {
  const { check } = permissions(['>']);
  for (const pattern of ['>', '*', '*.>', 'a']) t.is(check.subscribe(conn, pattern), undefined, pattern);
  t.is(check.publish(conn, 'anything.at.all'), undefined);
});

test('prefixes: a topic is public at or under one; a pattern must name its segments', (t) => {
  const { check, stats } = permissions(['news', 'user.*.inbox']);
  for (const topic of ['news', 'news.sport', 'user.ann.inbox', 'user.bob.inbox.urgent']) t.is(check.publish(conn, topic), undefined, topic);
  for (const topic of ['newsletter', 'sport', 'user.ann', 'user.ann.outbox']) t.like(check.publish(conn, topic), { code: 'forbidden' }, topic);
  for (const pattern of ['news', 'news.>', 'news.*', 'user.ann.inbox.>', 'user.bob.inbox']) t.is(check.subscribe(conn, pattern), undefined, pattern);
  for (const pattern of ['>', 'news*', 'user.*.inbox', 'user.>', 'user.ann.>', 'user.ann', '*.sport']) {
    t.like(check.subscribe(conn, pattern), { code: 'forbidden' }, pattern);
  }
  t.is(stats.forbidden, 4 + 7);
});

test('an empty list makes nothing public', (t) => {
  const { check } = permissions([]);
  t.like(check.publish(conn, 'a'), { code: 'forbidden' });
  t.like(check.subscribe(conn, 'a'), { code: 'forbidden' });
});

test("the application's hooks decide in place of the public topics, with the connection", (t) => {
  const seen: unknown[] = [];
  const hooks: PermissionHooks<Conn> = {
    canSubscribe(c, pattern) { seen.push(this); return pattern === `user.${c.user}.>`; },
    canPublish: (c, topic) => topic.startsWith(`user.${c.user}.`),
  };
  const { check, stats } = permissions(['>'], hooks);
  t.is(check.subscribe(conn, 'user.ann.>'), undefined);
  t.like(check.subscribe(conn, 'news.>'), { code: 'forbidden' }, 'public, but the hook says no');
  t.is(seen[0], hooks, 'called as a method of the application');
  t.is(check.publish(conn, 'user.ann.notes'), undefined);
  t.like(check.publish(conn, 'user.bob.notes'), { code: 'forbidden' });
  t.is(stats.forbidden, 2);
  // Only the hook given replaces the rule: without canPublish, the public topics decide publishes.
  const subscribeOnly = permissions([], { canSubscribe: () => true });
  t.is(subscribeOnly.check.subscribe(conn, '>'), undefined);
  t.like(subscribeOnly.check.publish(conn, 'a'), { code: 'forbidden' });
});

test('a hook that answers anything but a boolean (a Promise) is an application error', (t) => {
  const { check } = permissions(['>'], { canSubscribe: (() => Promise.resolve(true)) as unknown as () => boolean });
  t.throws(() => check.subscribe(conn, 'a'), { instanceOf: TypeError, message: /canSubscribe must return true or false/ });
});

test('publicTopicError accepts prefixes and > alone', (t) => {
  for (const prefix of ['*', '>', 'news', 'user.*.inbox', 'a.b.c']) t.is(publicTopicError(prefix), undefined, prefix);
  for (const prefix of ['', 'a..b', 'news.>', 'a b', 'x*']) t.truthy(publicTopicError(prefix), prefix);
});
