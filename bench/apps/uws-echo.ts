/** uWebSockets.js echo server, the speed reference: `node dist/bench/apps/uws-echo.js --port P`. */
import { announce, exitOnSignal, parseServerArgs } from './server-args.js';
import { loadUws, UWS_LIMITS } from './uws-native.js';

const { host, port } = parseServerArgs();
const uws = loadUws();

let listenSocket: unknown;
uws.App()
  .ws('/*', {
    ...UWS_LIMITS,
    compression: uws.DISABLED,
    // 1 MiB echoes: a reply may exceed maxBackpressure only if the client stops reading.
    maxBackpressure: 64 * 1024 * 1024,
    message: (ws, message, isBinary) => {
      ws.send(message, isBinary);
    },
  })
  .listen(host, port, (token) => {
    if (token === false) {
      console.error(`uws echo: cannot listen on ${host}:${port}`);
      process.exit(1);
    }
    listenSocket = token;
    announce('uws echo', host, port, `uWebSockets.js native, ABI ${process.versions.modules}`);
  });
exitOnSignal(() => {
  if (listenSocket !== undefined) uws.us_listen_socket_close(listenSocket as never);
});
