/**
 * Child-process entry: receives its shards over IPC, runs them as a local group and forwards
 * their messages. If the coordinator goes away, the shards stop and the process exits.
 */
import { startLocalGroup } from './hosts.js';
import type { ShardPlan } from './plan.js';
import type { ControlMessage, ShardMessage } from './shard.js';

let lastSend: Promise<void> = Promise.resolve();

function forward(message: ShardMessage): void {
  if (!process.connected) return;
  lastSend = new Promise((resolve) => process.send!(message, undefined, undefined, () => resolve()));
}

process.once('message', (start: { type: 'start'; plans: ShardPlan[] }) => {
  const group = startLocalGroup(start.plans, forward);
  process.on('message', (message: ControlMessage) => group.control(message));
  process.once('disconnect', () => group.control({ type: 'stop' }));
  void group.exited.then(async () => {
    await lastSend;
    process.exit(0);
  });
});
