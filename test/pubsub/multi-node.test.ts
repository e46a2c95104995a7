import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedisLink, startRedisServer } from '../helpers/redis-server.js';
import { PubsubClient, type Delivery } from '../helpers/pubsub-client.js';
import { waitFor } from '../helpers/wait.js';
import { parseServeArgs, UsageError } from '../../src/cli-args.js';
import { listen } from '../../src/main-thread/server.js';

const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

interface BackplaneHealth {
  state: string;
  peers: { nodes: number; confirmed: number };
  published: number;
  unconfirmed: number;
  dropped: number;
  stalls: number;
}

interface Node {
  port: number;
  process: ChildProcess;
  stderr: () => string;
  health(): Promise<{ backplane: BackplaneHealth }>;
}

/** Starts `wasmsocket serve --app pubsub --redis URL` as its own process: a real second node. */
async function startNode(redisUrl: string, workers: number, extra: string[] = []): Promise<Node> {
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--app', 'pubsub', '--workers', String(workers), '--redis', redisUrl, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      const match = /listening on ws:\/\/[^:]+:(\d+)\//.exec(stdout);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`node exited ${code}: ${stderr}`)));
  });
  return {
    port,
    process: child,
    stderr: () => stderr,
    health: async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).json() as Promise<{ backplane: BackplaneHealth }>,
  };
}

async function stopNode(node: Node): Promise<number | null> {
  if (node.process.exitCode !== null) return node.process.exitCode;
  const exited = new Promise<number | null>((resolve) => node.process.once('exit', (code) => resolve(code)));
  node.process.kill('SIGTERM');
  return exited;
}

/** Publishes warm-up messages from `publisher` until every probe has seen one: the Redis subscriptions are live. */
async function waitForBackplane(publisher: PubsubClient, topic: string, probes: PubsubClient[]): Promise<void> {
  const seen = (probe: PubsubClient) => probe.deliveries.some((d) => (d.data as { warm?: boolean }).warm === true);
  for (let attempt = 0; attempt < 100 && !probes.every(seen); attempt++) {
    publisher.publish(topic, { warm: true });
    await sleep(50);
  }
  if (!probes.every(seen)) throw new Error('the backplane never delivered across nodes');
}

const isWarmUp = (d: Delivery) => (d.data as { warm?: boolean }).warm === true;

interface JoinedNodes<Local extends boolean> {
  nodeA: Node;
  nodeB: Node;
  /** On A. */
  publisher: PubsubClient;
  /** On B, subscribed to the pattern. */
  remoteSubscriber: PubsubClient;
  /** On A, subscribed to the pattern, when asked for. */
  localSubscriber: Local extends true ? PubsubClient : undefined;
}

/**
 * Two nodes on Redis (B through `bUrl` when it must reach Redis another way), a subscriber to
 * `pattern` on B (and on A with `local`), a publisher on A; resolves once a warm-up publish on
 * `probe` has crossed from A to B. Everything is closed at the test's end.
 */
async function joinedNodes<Local extends boolean = false>(t: ExecutionContext, workers: number, options: {
  redisUrl: string; bUrl?: string; extra?: string[]; pattern: string; probe: string; local?: Local;
}): Promise<JoinedNodes<Local>> {
  const { redisUrl, extra = [], pattern } = options;
  const [nodeA, nodeB] = [await startNode(redisUrl, workers, extra), await startNode(options.bUrl ?? redisUrl, workers, extra)];
  t.teardown(() => Promise.all([nodeA, nodeB].map(stopNode)));
  const localSubscriber = options.local === true ? await PubsubClient.connect(nodeA.port) : undefined;
  const remoteSubscriber = await PubsubClient.connect(nodeB.port);
  await localSubscriber?.subscribe(pattern);
  await remoteSubscriber.subscribe(pattern);
  const publisher = await PubsubClient.connect(nodeA.port);
  t.teardown(() => { for (const client of [localSubscriber, remoteSubscriber, publisher]) client?.close(); });
  await waitForBackplane(publisher, options.probe, [remoteSubscriber]);
  return { nodeA, nodeB, publisher, remoteSubscriber, localSubscriber: localSubscriber as JoinedNodes<Local>['localSubscriber'] };
}

const modeName = (workers: number) => (workers === 0 ? 'inline' : `${workers} worker${workers > 1 ? 's' : ''} per node`);

for (const workers of [0, 1, 2]) {
  test(`200 subscribers on two nodes get 1 000 publishes from both nodes exactly once and in order [${modeName(workers)}]`, async (t) => {
    const redis = await startRedisServer();
    t.teardown(() => redis.stop());
    const nodes = [await startNode(redis.url, workers), await startNode(redis.url, workers)];
    t.teardown(() => Promise.all(nodes.map(stopNode)));

    // 100 subscribers per node, with exact and wildcard patterns that all match `orders.eu`.
    const patterns = ['orders.eu', 'orders.*', 'orders.>'];
    const subscribers: PubsubClient[] = [];
    for (let i = 0; i < 200; i++) {
      const client = await PubsubClient.connect(nodes[i % 2].port);
      await client.subscribe(patterns[i % 3]);
      subscribers.push(client);
    }
    t.teardown(() => { for (const client of subscribers) client.close(); });
    const publishers = await Promise.all(nodes.map((node) => PubsubClient.connect(node.port)));
    await waitForBackplane(publishers[0], 'orders.eu', [subscribers[1]]);
    await waitForBackplane(publishers[1], 'orders.eu', [subscribers[0]]);

    for (let i = 0; i < 500; i++) {
      publishers[0].publish('orders.eu', { from: 'A', seq: i });
      publishers[1].publish('orders.eu', { from: 'B', seq: i });
    }
    await Promise.all(subscribers.map((client) => client.until(
      () => client.deliveries.filter((d) => !isWarmUp(d)).length >= 1000, 30_000, 'all 1 000 publishes')));
    // Let anything duplicated arrive before counting: an end marker from each node, published after
    // the 1 000, comes behind them on each path. Markers are repeated until every subscriber has
    // both: on a saturated machine a Redis PING can time out, and a publish made while the
    // backplane is marked stalled is dropped by design (counted in backplane.dropped).
    const hasEnd = (client: PubsubClient, from: string) => client.deliveries.some((d) => {
      const data = d.data as { from?: unknown; seq?: unknown };
      return data.from === from && data.seq === 'end';
    });
    const allEnded = () => subscribers.every((client) => hasEnd(client, 'A') && hasEnd(client, 'B'));
    for (let round = 0; round < 15 && !allEnded(); round++) {
      publishers[0].publish('orders.eu', { from: 'A', seq: 'end' });
      publishers[1].publish('orders.eu', { from: 'B', seq: 'end' });
      await Promise.all(subscribers.map((client) => client.until(
        () => hasEnd(client, 'A') && hasEnd(client, 'B'), 2000, 'the end markers').catch(() => undefined)));
    }
    t.true(allEnded(), 'every subscriber got an end marker from both nodes');

    const expected = Array.from({ length: 500 }, (_, i) => i);
    for (const client of subscribers) {
      const real = client.deliveries.filter((d) => !isWarmUp(d)).map((d) => d.data as { from: string; seq: number | 'end' });
      t.deepEqual(real.filter((d) => d.from === 'A' && d.seq !== 'end').map((d) => d.seq), expected, 'A: exactly once, in order');
      t.deepEqual(real.filter((d) => d.from === 'B' && d.seq !== 'end').map((d) => d.seq), expected, 'B: exactly once, in order');
    }
    for (const client of publishers) client.close();
  });
}

for (const workers of [0, 2]) {
  test(`with Redis down, local delivery goes on; when it is back, delivery across nodes resumes [${modeName(workers)}]`, async (t) => {
    const redis = await startRedisServer();
    t.teardown(() => redis.stop());
    const { nodeA, nodeB, publisher, remoteSubscriber, localSubscriber } = await joinedNodes(t, workers,
      { redisUrl: redis.url, pattern: 'alerts.>', probe: 'alerts.fire', local: true });

    await redis.stop();
    for (let i = 0; i < 100 && (await nodeA.health()).backplane.state !== 'down'; i++) await sleep(50);
    t.is((await nodeA.health()).backplane.state, 'down');
    const before = localSubscriber.deliveries.length;
    publisher.publish('alerts.fire', 'during the outage');
    await localSubscriber.until(() => localSubscriber.deliveries.length === before + 1, 5000, 'local delivery during the outage');
    t.true((await nodeA.health()).backplane.dropped >= 1, 'the publish that could not cross is counted');

    await redis.restart();
    // Publish until the remote node hears again: the backplane reconnected and resubscribed.
    const resumed = () => remoteSubscriber.deliveries.some((d) => d.data === 'after the outage');
    for (let i = 0; i < 200 && !resumed(); i++) {
      publisher.publish('alerts.fire', 'after the outage');
      await sleep(50);
    }
    t.true(resumed(), 'delivery across nodes resumed after Redis came back');
    t.is((await nodeB.health()).backplane.state, 'ready');
    // Logged once per transition, and neither node crashed.
    const downLines = nodeA.stderr().split('\n').filter((line) => /down/i.test(line));
    t.is(downLines.length, 1, nodeA.stderr());
    t.is(nodeA.process.exitCode, null);
    t.is(nodeB.process.exitCode, null);
    t.is(await stopNode(nodeA), 0);
  });
}

/**
 * Small PING values, so that a stall is seen quickly, yet a deadline far above a loaded machine's
 * event-loop lag; the tests wait for states, never for durations, with generous bounds.
 */
const QUICK_PINGS = ['--redis-ping-interval', '100', '--redis-ping-timeout', '2000'];
const BOUND_MS = 30_000;

const backplaneOf = async (node: Node) => (await node.health()).backplane;

for (const workers of [0, 2]) {
  test(`Redis restarted while two nodes run: messages flow again, and every publish of the gap is delivered or counted [${modeName(workers)}]`, async (t) => {
    const redis = await startRedisServer();
    t.teardown(() => redis.stop());
    const { nodeA, nodeB, publisher, remoteSubscriber } = await joinedNodes(t, workers,
      { redisUrl: redis.url, extra: QUICK_PINGS, pattern: 'gap.>', probe: 'gap.x' });
    // A has heard B confirm its subscriptions: A knows whom to wait for after the restart.
    await waitFor(async () => (await backplaneOf(nodeA)).peers.confirmed === 1, BOUND_MS);
    const before = await backplaneOf(nodeA);
    t.deepEqual(before.peers, { nodes: 1, confirmed: 1 });

    await redis.stop();
    await waitFor(async () => (await backplaneOf(nodeA)).state === 'down', BOUND_MS);
    let published = 0;
    const publishGap = () => publisher.publish('gap.x', { gap: published++ });
    for (let i = 0; i < 20; i++) publishGap();
    await redis.restart();
    // Publish all through the reconnection, until both nodes are ready again.
    const states: string[] = [];
    let recovered = false;
    for (let i = 0; i < 2000 && !recovered; i++) {
      publishGap();
      const [a, b] = await Promise.all([backplaneOf(nodeA), backplaneOf(nodeB)]);
      if (states.at(-1) !== a.state) states.push(a.state);
      recovered = a.state === 'ready' && b.state === 'ready';
      await sleep(5);
    }
    t.true(recovered, `A went ${states.join(' → ')}`);
    // Ready means B's subscriptions are confirmed: the very next publish reaches B.
    publisher.publish('gap.x', 'after the restart');
    await remoteSubscriber.until(() => remoteSubscriber.deliveries.some((d) => d.data === 'after the restart'), BOUND_MS, 'delivery after recovery');

    const delivered = () => remoteSubscriber.deliveries.filter((d) => typeof (d.data as { gap?: number }).gap === 'number').length;
    const counted = async () => {
      const now = await backplaneOf(nodeA);
      return now.dropped - before.dropped + now.unconfirmed - before.unconfirmed;
    };
    // The counters of the last acknowledgements may trail the delivery by a moment.
    await waitFor(async () => delivered() + (await counted()) >= published, BOUND_MS);
    const summary = `published ${published}, delivered ${delivered()}, counted ${await counted()} (A went ${states.join(' → ')})`;
    t.log(summary);
    t.true(delivered() + (await counted()) >= published, summary);
    t.true((await backplaneOf(nodeA)).dropped > before.dropped, 'the publishes while Redis was down are counted as dropped');
    t.is(nodeA.process.exitCode, null);
    t.is(nodeB.process.exitCode, null);
  });

  test(`SIGSTOP of Redis: both nodes' /healthz report the stall; SIGCONT: ready and delivering again [${modeName(workers)}]`, async (t) => {
    const redis = await startRedisServer();
    t.teardown(() => redis.stop());
    const { nodeA, nodeB, publisher, remoteSubscriber, localSubscriber } = await joinedNodes(t, workers,
      { redisUrl: redis.url, extra: QUICK_PINGS, pattern: 'stall.>', probe: 'stall.x', local: true });

    redis.pause();
    t.teardown(() => redis.resume());
    const stalled = async (node: Node) => (await backplaneOf(node)).stalls >= 1;
    await waitFor(async () => (await stalled(nodeA)) && (await stalled(nodeB)), BOUND_MS);
    for (const node of [nodeA, nodeB]) {
      t.true(await stalled(node), 'the stall is counted in /healthz');
      t.not((await backplaneOf(node)).state, 'ready');
      t.regex(node.stderr(), /redis backplane stalled/);
    }
    const droppedBefore = (await backplaneOf(nodeA)).dropped;
    const before = localSubscriber.deliveries.length;
    publisher.publish('stall.x', 'during the stall');
    await localSubscriber.until(() => localSubscriber.deliveries.length === before + 1, BOUND_MS, 'local delivery during the stall');
    await waitFor(async () => (await backplaneOf(nodeA)).dropped > droppedBefore, BOUND_MS);
    t.true((await backplaneOf(nodeA)).dropped > droppedBefore, 'the publish that could not cross is counted');

    redis.resume();
    let states: string[] = [];
    await waitFor(async () => {
      states = [(await backplaneOf(nodeA)).state, (await backplaneOf(nodeB)).state];
      return states.every((state) => state === 'ready');
    }, BOUND_MS);
    t.deepEqual(states, ['ready', 'ready']);
    publisher.publish('stall.x', 'after the stall');
    await remoteSubscriber.until(() => remoteSubscriber.deliveries.some((d) => d.data === 'after the stall'), BOUND_MS, 'delivery after the stall');
    t.false(remoteSubscriber.deliveries.some((d) => d.data === 'during the stall'), 'a dropped publish is not sent late');
  });
}

for (const workers of [0, 2]) {
  test(`Redis restarted, one node back first: /healthz says recovering and counts its publishes until the other node has resubscribed [${modeName(workers)}]`, async (t) => {
    const redis = await startRedisServer();
    t.teardown(() => redis.stop());
    // Node B reaches Redis through a link the test holds cut after the restart: B stays away.
    const link = await startRedisLink(redis);
    t.teardown(() => link.close());
    const { nodeA, nodeB, publisher, remoteSubscriber } = await joinedNodes(t, workers,
      { redisUrl: redis.url, bUrl: link.url, extra: QUICK_PINGS, pattern: 'orders.>', probe: 'orders.eu' });
    await waitFor(async () => (await backplaneOf(nodeA)).peers.confirmed === 1, BOUND_MS);
    const before = await backplaneOf(nodeA);

    link.cut();
    await redis.restart();
    await waitFor(async () => (await backplaneOf(nodeA)).state === 'recovering', BOUND_MS);
    const recovering = await backplaneOf(nodeA);
    t.is(recovering.state, 'recovering');
    t.deepEqual(recovering.peers, { nodes: 1, confirmed: 0 });
    for (let i = 0; i < 42; i++) publisher.publish('orders.eu', { gap: i });
    const counted = async () => {
      const now = await backplaneOf(nodeA);
      return now.unconfirmed - before.unconfirmed + now.dropped - before.dropped;
    };
    await waitFor(async () => (await counted()) >= 42, BOUND_MS);
    t.is(await counted(), 42, 'accepted by Redis, heard by nobody on B: every one counted');

    link.restore();
    let states: string[] = [];
    await waitFor(async () => {
      states = [(await backplaneOf(nodeA)).state, (await backplaneOf(nodeB)).state];
      return states.every((state) => state === 'ready');
    }, BOUND_MS);
    t.deepEqual(states, ['ready', 'ready']);
    publisher.publish('orders.eu', 'after');
    await remoteSubscriber.until(() => remoteSubscriber.deliveries.some((d) => d.data === 'after'), BOUND_MS, 'delivery after recovery');
    const delivered = remoteSubscriber.deliveries.filter((d) => typeof (d.data as { gap?: number }).gap === 'number').length;
    t.true(delivered + (await counted()) >= 42, `delivered ${delivered}, counted ${await counted()}`);
    t.regex(nodeA.stderr(), /redis backplane recovering/);
  });
}

test('bad Redis PING settings are a usage error in the CLI and a TypeError in listen()', async (t) => {
  for (const args of [['--redis-ping-interval', '0'], ['--redis-ping-timeout', '1.5'], ['--redis-ping-timeout', '-1']]) {
    const error = t.throws(() => parseServeArgs(args), { instanceOf: UsageError }, args.join(' '));
    t.regex(error!.message, /^--redis-ping-(interval|timeout) must be/);
  }
  t.like(parseServeArgs(['--redis-ping-interval', '250', '--redis-ping-timeout', '900']).options, { redisPingIntervalMs: 250, redisPingTimeoutMs: 900 });
  await t.throwsAsync(listen({ port: 0, redis: 'redis://127.0.0.1:1', redisPingTimeoutMs: 0 }), { instanceOf: TypeError, message: /redisPingTimeoutMs/ });
});
