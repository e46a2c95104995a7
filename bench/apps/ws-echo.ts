/**
 * `ws` echo server, the peer baseline: `node dist/bench/apps/ws-echo.js --port P [--native]`.
 * Plain by default (no bufferutil); `--native` lets `ws` load bufferutil. No permessage-deflate.
 */
import { announce, exitOnSignal, parseServerArgs } from './server-args.js';
import { loadWs, nativeRequested } from './ws-native.js';

const argv = process.argv.slice(2);
const native = nativeRequested(argv);
const { host, port } = parseServerArgs(argv.filter((arg) => arg !== '--native'));
const { WebSocketServer, natives } = loadWs(native);

const server = new WebSocketServer({ host, port, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024, clientTracking: false });
server.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data as Buffer, { binary: isBinary }));
  socket.on('error', () => {});
});
server.on('listening', () => announce('ws echo', host, port, natives));
exitOnSignal(() => server.close());
