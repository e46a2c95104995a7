/**
 * `ws` pub/sub server speaking wasmsocket's JSON protocol, written the usual way:
 *   → {"type":"subscribe","topic":T}            ← {"type":"subscribed","topic":T}
 *   → {"type":"unsubscribe","topic":T}          ← {"type":"unsubscribed","topic":T}
 *   → {"type":"publish","topic":T,"data":D}     every subscriber of T ← {"type":"message","topic":T,"data":D}
 * The delivery is serialized once per publish and sent with the loop everyone writes,
 * `for (const client of subscribers) client.send(data)` (ws frames it once per client).
 * Exact topics only: the benchmark uses one topic. `node dist/bench/apps/ws-pubsub.js --port P [--native] [--deflate]`.
 */
import type { WebSocket } from 'ws';
import { announce, exitOnSignal, parseServerArgs } from './server-args.js';
import { loadWs, nativeRequested, startWsServer } from './ws-native.js';

const argv = process.argv.slice(2);
const native = nativeRequested(argv);
const args = parseServerArgs(argv.filter((arg) => arg !== '--native'));
const { WebSocketServer, natives } = loadWs(native);

const topics = new Map<string, Set<WebSocket>>();

function unsubscribe(client: WebSocket, topic: string): void {
  const subscribers = topics.get(topic);
  if (subscribers === undefined) return;
  subscribers.delete(client);
  if (subscribers.size === 0) topics.delete(topic);
}

const { server, close } = await startWsServer(WebSocketServer, args);
server.on('connection', (client) => {
  const mine = new Set<string>();
  client.on('error', () => {});
  client.on('close', () => {
    for (const topic of mine) unsubscribe(client, topic);
  });
  client.on('message', (raw, isBinary) => {
    let request: { type?: unknown; topic?: unknown; data?: unknown };
    try {
      request = JSON.parse(isBinary ? '' : (raw as Buffer).toString('utf8'));
    } catch {
      client.send(JSON.stringify({ type: 'error', code: 'bad_json', message: 'message is not valid JSON' }));
      return;
    }
    const { type, topic, data } = request ?? {};
    if (typeof topic !== 'string') {
      client.send(JSON.stringify({ type: 'error', code: 'bad_topic', message: 'topic must be a string' }));
      return;
    }
    if (type === 'subscribe') {
      let subscribers = topics.get(topic);
      if (subscribers === undefined) topics.set(topic, subscribers = new Set());
      subscribers.add(client);
      mine.add(topic);
      client.send(JSON.stringify({ type: 'subscribed', topic }));
    } else if (type === 'unsubscribe') {
      unsubscribe(client, topic);
      mine.delete(topic);
      client.send(JSON.stringify({ type: 'unsubscribed', topic }));
    } else if (type === 'publish') {
      const subscribers = topics.get(topic);
      if (subscribers === undefined) return;
      const message = JSON.stringify({ type: 'message', topic, data });
      for (const subscriber of subscribers) subscriber.send(message);
    } else {
      client.send(JSON.stringify({ type: 'error', code: 'unknown_type', message: 'unknown message type' }));
    }
  });
});
announce('ws pubsub', args.host, args.port, `${natives}${args.deflate ? ', permessage-deflate (compressed once per subscriber, as ws sends)' : ''}`, args.tls !== undefined);
exitOnSignal(close);
