/** A `ws` client's small steps, as the server tests use them: open, one request and its reply, the close code. */
import { once } from 'node:events';
import WebSocket from 'ws';

/** Opens a connection to our server on 127.0.0.1 (`port` as a number or a server with `.port`). */
export async function openClient(target: number | { port: number }, path = '/'): Promise<WebSocket> {
  const port = typeof target === 'number' ? target : target.port;
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
  await once(ws, 'open');
  return ws;
}

/** Sends `text` and resolves with the next message, as text. */
export function request(ws: WebSocket, text: string): Promise<string> {
  const reply = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
  ws.send(text);
  return reply;
}

/** Resolves with the code the connection closes with. */
export function closeCode(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

/**
 * Tries an upgrade to 127.0.0.1:`port`: the open client, the HTTP status it was refused with, or
 * how it failed (the error's code, else its message).
 */
export function attemptUpgrade(port: number): Promise<WebSocket | number | string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode!);
      response.resume();
      ws.terminate();
    });
    ws.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}
