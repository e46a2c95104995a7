/**
 * uWebSockets.js pub/sub server speaking wasmsocket's JSON protocol (see ws-pubsub.ts), with
 * uWS's own topic tree: `ws.subscribe(topic)` and `app.publish(topic, message)`, which frames
 * a message once and delivers it to every subscriber. `node dist/bench/apps/uws-pubsub.js --port P`.
 */
import { announce, exitOnSignal, parseServerArgs } from './server-args.js';
import { loadUws, UWS_LIMITS } from './uws-native.js';

const { host, port, deflate, tls } = parseServerArgs();
const uws = loadUws();
const decoder = new TextDecoder();

let listenSocket: unknown;
const app = (tls === undefined ? uws.App() : uws.SSLApp({ cert_file_name: tls.cert, key_file_name: tls.key }));
app
  .ws('/*', {
    ...UWS_LIMITS,
    // --deflate: one compressor shared by all sockets, no context takeover (like wasmsocket's default).
    compression: deflate ? uws.SHARED_COMPRESSOR : uws.DISABLED,
    message: (ws, message, isBinary) => {
      let request: { type?: unknown; topic?: unknown; data?: unknown };
      try {
        request = JSON.parse(isBinary ? '' : decoder.decode(message));
      } catch {
        ws.send(JSON.stringify({ type: 'error', code: 'bad_json', message: 'message is not valid JSON' }));
        return;
      }
      const { type, topic, data } = request ?? {};
      if (typeof topic !== 'string') {
        ws.send(JSON.stringify({ type: 'error', code: 'bad_topic', message: 'topic must be a string' }));
        return;
      }
      if (type === 'subscribe') {
        ws.subscribe(topic);
        ws.send(JSON.stringify({ type: 'subscribed', topic }));
      } else if (type === 'unsubscribe') {
        ws.unsubscribe(topic);
        ws.send(JSON.stringify({ type: 'unsubscribed', topic }));
      } else if (type === 'publish') {
        app.publish(topic, JSON.stringify({ type: 'message', topic, data }), false, deflate);
      } else {
        ws.send(JSON.stringify({ type: 'error', code: 'unknown_type', message: 'unknown message type' }));
      }
    },
  })
  .listen(host, port, (token) => {
    if (token === false) {
      console.error(`uws pubsub: cannot listen on ${host}:${port}`);
      process.exit(1);
    }
    listenSocket = token;
    announce('uws pubsub', host, port, `uWebSockets.js native, ABI ${process.versions.modules}${deflate ? ', SHARED_COMPRESSOR' : ''}`, tls !== undefined);
  });
exitOnSignal(() => {
  if (listenSocket !== undefined) uws.us_listen_socket_close(listenSocket as never);
});
