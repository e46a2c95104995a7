/**
 * `ws` echo server, the peer baseline: `node dist/bench/apps/ws-echo.js --port P [--native]`.
 * Plain by default (no bufferutil); `--native` lets `ws` load bufferutil. `--deflate`: permessage-deflate
 * as wasmsocket's defaults (ws-native.ts WS_DEFLATE); `--cert F --key F`: wss:// over node:https.
 */
import { announce, exitOnSignal, parseServerArgs } from './server-args.js';
import { loadWs, nativeRequested, startWsServer } from './ws-native.js';

const argv = process.argv.slice(2);
const native = nativeRequested(argv);
const args = parseServerArgs(argv.filter((arg) => arg !== '--native'));
const { WebSocketServer, natives } = loadWs(native);

const { server, close } = await startWsServer(WebSocketServer, args);
server.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data as Buffer, { binary: isBinary }));
  socket.on('error', () => {});
});
announce('ws echo', args.host, args.port, `${natives}${args.deflate ? ', permessage-deflate' : ''}`, args.tls !== undefined);
exitOnSignal(close);
