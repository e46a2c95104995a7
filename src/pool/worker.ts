/**
 * Worker entry, run by Piscina as one long-lived task per worker thread. The worker is a whole
 * server for the sockets the main thread hands it: a ConnectionServer reads, parses, frames,
 * dispatches and writes on this thread. The task's MessagePort carries only the control plane
 * and pub/sub traffic between workers (src/pool/messages.ts).
 */
import { threadId, type MessagePort } from 'node:worker_threads';
import { createCodec } from '../codec/select.js';
import { CloseCode } from '../protocol/close-codes.js';
import { noteProgress, reportProgressTo } from './liveness.js';
import { watchExternalMemory } from '../server/thread-memory.js';
import { loadApplication } from '../apps/app.js';
import type { Backplane } from '../pubsub/broker.js';
import type { HistoryQuery, HistoryReply, HistorySource, Sequenced } from '../pubsub/history.js';
import { ConnectionServer, type ConnectionSettings, type NodeServices } from '../server/connection-server.js';
import type { AuthorizeVerdict } from '../server/upgrade-request.js';
import { PendingRequests, PortChannel, type ToMain, type ToWorker } from './messages.js';
import { socketAround } from './moved-socket.js';

export interface WorkerTask {
  port: MessagePort;
  /** Shared with the main thread's heartbeat: bumped on every socket read (liveness.ts). */
  progress: Int32Array;
  /** Application name or module path. */
  app: string;
  settings: ConnectionSettings;
  /** The server has an `authorize` hook (it runs on the main thread). */
  authorize: boolean;
  /** Other workers or other nodes exist: this worker's publishes must leave it. */
  relayPublishes: boolean;
  /** A Redis backplane wants the node's patterns. */
  relayPatterns: boolean;
  /** The node keeps history: offsets, history and presence come from the main thread. */
  history: boolean;
}

/** Round trips to the main thread wait at most this long (a hook that never answers). */
const MAIN_THREAD_ANSWER_MS = 30_000;
/** How long a failing worker waits for its clients to answer its 1011 close frames. */
const FAILING_CLOSE_MS = 1000;

/** This worker's connections publish to the others (and to other nodes) through the main thread. */
class MainThreadBackplane implements Backplane {
  constructor(readonly channel: PortChannel<ToMain, ToWorker>, readonly task: WorkerTask) {}

  addPattern(pattern: string): void {
    if (this.task.relayPatterns) this.channel.send({ type: 'pattern', pattern, added: true });
  }

  removePattern(pattern: string): void {
    if (this.task.relayPatterns) this.channel.send({ type: 'pattern', pattern, added: false });
  }

  publish(topic: string, payload: Uint8Array, isBinary: boolean): void {
    if (!this.task.relayPublishes) return;
    // A copy of exactly the payload: a pooled Buffer's view would clone its whole pool slab.
    const own = new Uint8Array(payload.length);
    own.set(payload);
    this.channel.send({ type: 'publish', topic, payload: own, isBinary }, [own.buffer]);
  }
}

/**
 * Offsets, history and presence of this worker's connections, from the main thread (which
 * assigns the node's offsets). Answers come back on the same port as the relayed publishes, in
 * the order the main thread made them: what the join of a recovery relies on.
 */
class MainThreadHistory implements HistorySource {
  readonly #tickets = new Map<number, (sequenced: Sequenced) => void>();
  #nextTicket = 1;
  readonly histories = new PendingRequests<HistoryReply>();
  readonly presences = new PendingRequests<number>();

  constructor(readonly channel: PortChannel<ToMain, ToWorker>) {}

  sequence(topic: string, message: Uint8Array, done: (sequenced: Sequenced) => void): void {
    const ticket = this.#nextTicket++;
    this.#tickets.set(ticket, done);
    const own = new Uint8Array(message.length);
    own.set(message);
    this.channel.send({ type: 'sequence', ticket, topic, message: own }, [own.buffer]);
  }

  sequenced(ticket: number, sequenced: Sequenced): void {
    const done = this.#tickets.get(ticket);
    this.#tickets.delete(ticket);
    done?.(sequenced);
  }

  read(topic: string, query: HistoryQuery, done: (reply: HistoryReply | undefined) => void): void {
    const { id, answer } = this.histories.create(MAIN_THREAD_ANSWER_MS);
    this.channel.send({ type: 'history', request: id, topic, query });
    void answer.then(done);
  }

  presence(topic: string, local: number, done: (count: number) => void): void {
    const { id, answer } = this.presences.create(MAIN_THREAD_ANSWER_MS);
    this.channel.send({ type: 'presence', request: id, topic, local });
    void answer.then((count) => done(count ?? local));
  }
}

export default async function runWorker(task: WorkerTask): Promise<void> {
  reportProgressTo(task.progress);
  const app = await loadApplication(task.app);
  const codec = createCodec(task.settings.codec);
  const verdicts = new PendingRequests<AuthorizeVerdict>();
  const healths = new PendingRequests<Record<string, unknown>>();
  let server: ConnectionServer | undefined;
  let history: MainThreadHistory | undefined;

  const receive = (message: ToWorker): void => {
    // Handling the main thread's messages (publishes relayed from other workers) is progress too:
    // a ping queued behind thousands of them is late because this worker is busy, not stuck.
    noteProgress();
    switch (message.type) {
      case 'socket': server!.adopt(socketAround(message.socket), message.id); break;
      case 'publish': server!.broker.deliver(message.topic, message.payload, message.isBinary, message.offset); break;
      case 'sequenced': history?.sequenced(message.ticket, message.sequenced); break;
      case 'history': history?.histories.settle(message.request, message.reply); break;
      case 'presence': history?.presences.settle(message.request, message.count); break;
      case 'count-subscribers':
        channel.send({ type: 'subscriber-count', request: message.request, count: server!.broker.exactSubscribers(message.topic) });
        break;
      case 'verdict': verdicts.settle(message.request, message.verdict); break;
      case 'health': healths.settle(message.request, message.health); break;
      case 'stats': channel.send({ type: 'stats', request: message.request, stats: server!.stats() }); break;
      case 'ping': channel.send({ type: 'pong', seq: message.seq }); break;
      case 'relay-publishes': task.relayPublishes = true; break;
      case 'certificate': server!.setCertificate(message.certificate); break;
      case 'shutdown':
        void server!.close(message.code, message.reason).then(() => {
          channel.send({ type: 'shutdown-done' });
          channel.flush();
        });
        break;
    }
  };
  const channel = new PortChannel<ToMain, ToWorker>(task.port, receive);

  const services: NodeServices = {
    authorize: task.authorize ? async (upgrade) => {
      const { id, answer } = verdicts.create(MAIN_THREAD_ANSWER_MS);
      channel.send({ type: 'authorize', request: id, upgrade });
      return (await answer) ?? { status: 503, reason: 'authorization unavailable' };
    } : undefined,
    health: async () => {
      const { id, answer } = healths.create(MAIN_THREAD_ANSWER_MS);
      channel.send({ type: 'health', request: id });
      const health = await answer;
      if (health === undefined) throw new Error('the main thread did not answer');
      return health;
    },
    socketClosed: (id) => channel.send({ type: 'closed', id }),
    onError: (error, connection) => channel.send({ type: 'error', connection, stack: error.stack ?? error.message }),
  };
  server = new ConnectionServer(task.settings, app, codec, services, new MainThreadBackplane(channel, task));
  if (task.history) {
    history = new MainThreadHistory(channel);
    server.broker.attachHistory(history);
  }
  channel.send({ type: 'ready', threadId });
  const limit = task.settings.maxWorkerExternalMemory;
  if (limit > 0) {
    watchExternalMemory(limit, (external) => {
      channel.send({ type: 'memory-limit', external, limit });
      channel.flush();
    });
  }

  // An uncaught error in application code (a timer, a promise) leaves this thread's state
  // unknown. While the thread can still speak, its connections get a 1011 close frame; then it
  // ends with that error and the pool replaces it.
  let failing: Error | undefined;
  const fail = (caught: unknown): void => {
    const error = caught instanceof Error ? caught : new Error(String(caught));
    if (failing !== undefined) {
      // More errors while closing: reported, and the thread still ends with the first one.
      channel.send({ type: 'log', line: `worker error while closing after an uncaught error: ${error.stack ?? error.message}` });
      return;
    }
    failing = error;
    channel.send({ type: 'failing', stack: error.stack ?? error.message });
    // Posted now, not at the end of the turn: the thread's exit can reach the main thread before
    // a message still queued here, and the main thread stops reading the port when it sees the exit.
    channel.flush();
    void server!.close(CloseCode.INTERNAL_ERROR, 'internal error', FAILING_CLOSE_MS).finally(() => {
      channel.flush();
      process.off('uncaughtException', fail);
      process.off('unhandledRejection', fail);
      setImmediate(() => { throw error; });
    });
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);

  await new Promise<void>((resolve) => {
    // The main thread closes the port once this worker's connections are closed (or to stop it).
    task.port.once('close', () => {
      verdicts.cancelAll();
      healths.cancelAll();
      history?.histories.cancelAll();
      history?.presences.cancelAll();
      resolve();
    });
  });
}
