/** Worker-thread entry: runs one shard and talks to the coordinating thread over parentPort. */
import { parentPort, workerData } from 'node:worker_threads';
import type { ShardPlan } from './plan.js';
import { Shard, type ControlMessage } from './shard.js';

const port = parentPort!;
const shard = new Shard((workerData as { plan: ShardPlan }).plan, (message) => port.postMessage(message));
port.on('message', (message: ControlMessage) => shard.control(message));
shard.start();
await shard.finished;
port.close();
