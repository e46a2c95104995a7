/**
 * uWebSockets.js echo server, the speed reference: `node dist/bench/apps/uws-echo.js --port P`
 * (`--deflate`: SHARED_COMPRESSOR; `--cert F --key F`: wss:// with SSLApp).
 */
import { announce, exitOnSignal, parseServerArgs } from './server-args.js';
import { loadUws, UWS_LIMITS } from './uws-native.js';

const { host, port, deflate, tls } = parseServerArgs();
const uws = loadUws();

let listenSocket: unknown;
(tls === undefined ? uws.App() : uws.SSLApp({ cert_file_name: tls.cert, key_file_name: tls.key }))
  .ws('/*', {
    ...UWS_LIMITS,
    // --deflate: one compressor shared by all sockets, no context takeover (like wasmsocket's default).
    compression: deflate ? uws.SHARED_COMPRESSOR : uws.DISABLED,
    // 1 MiB echoes: a reply may exceed maxBackpressure only if the client stops reading.
    maxBackpressure: 64 * 1024 * 1024,
    message: (ws, message, isBinary) => {
      ws.send(message, isBinary, deflate);
    },
  })
  .listen(host, port, (token) => {
    if (token === false) {
      console.error(`uws echo: cannot listen on ${host}:${port}`);
      process.exit(1);
    }
    listenSocket = token;
    announce('uws echo', host, port, `uWebSockets.js native, ABI ${process.versions.modules}${deflate ? ', SHARED_COMPRESSOR' : ''}`, tls !== undefined);
  });
exitOnSignal(() => {
  if (listenSocket !== undefined) uws.us_listen_socket_close(listenSocket as never);
});
