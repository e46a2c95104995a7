/**
 * Where shards run. A group is the shards of one process: a single shard runs inline on that
 * process's main thread, several run one per worker thread. A group in a child process forwards
 * its shards' messages to the coordinator over IPC, unchanged.
 */
import { fork } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import type { ShardPlan } from './plan.js';
import { Shard, type ControlMessage, type ShardMessage } from './shard.js';

export interface GroupHandle {
  control(message: ControlMessage): void;
  /** Resolves when every shard of the group is done (or its thread or process is gone). */
  readonly exited: Promise<void>;
  /** Ends the group's threads or process at once (a last resort past the deadline). */
  kill(): void;
}

type Listener = (message: ShardMessage) => void;

const WORKER_ENTRY = new URL('./worker.js', import.meta.url);
const CHILD_ENTRY = new URL('./child.js', import.meta.url);

/** Runs the shards in this process. */
export function startLocalGroup(plans: readonly ShardPlan[], onMessage: Listener): GroupHandle {
  if (plans.length === 1) return startInline(plans[0], onMessage);
  const threads = plans.map((plan) => startThread(plan, onMessage));
  return {
    control: (message) => threads.forEach((thread) => thread.control(message)),
    exited: Promise.all(threads.map((thread) => thread.exited)).then(() => undefined),
    kill: () => threads.forEach((thread) => thread.kill()),
  };
}

function startInline(plan: ShardPlan, onMessage: Listener): GroupHandle {
  const shard = new Shard(plan, onMessage);
  shard.start();
  return { control: (message) => shard.control(message), exited: shard.finished, kill: () => {} };
}

function startThread(plan: ShardPlan, onMessage: Listener): GroupHandle {
  const worker = new Worker(WORKER_ENTRY, { workerData: { plan } });
  worker.on('message', (message: ShardMessage) => {
    onMessage(message);
    // The shard is done once it has reported; the thread has nothing left to do.
    if (message.type === 'result') void worker.terminate();
  });
  worker.on('error', (error) => process.emitWarning(`load worker ${plan.shard}: ${error.message}`));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    control: (message) => worker.postMessage(message),
    exited,
    kill: () => void worker.terminate(),
  };
}

/** Runs the shards in a child process (its own open-file limit), which starts a local group. */
export function startChildGroup(plans: readonly ShardPlan[], onMessage: Listener): GroupHandle {
  const child = fork(CHILD_ENTRY, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.on('message', (message: ShardMessage) => onMessage(message));
  child.send({ type: 'start', plans });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    control: (message) => {
      if (child.connected) child.send(message);
    },
    exited,
    kill: () => void child.kill('SIGKILL'),
  };
}
