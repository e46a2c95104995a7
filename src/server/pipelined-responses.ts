/**
 * HTTP/1.1 pipelining across an upgrade. RFC 9112 §9.3.2: a server answers pipelined requests in
 * the order they came. node:http keeps that order among plain responses, but hands over an
 * upgrade request at once, even when a plain request before it in the same packet is still
 * being answered (GET /healthz asks the main thread): the 101 would then go out first and the
 * plain response land inside the WebSocket stream. So an upgrade waits until the responses to
 * the requests before it are written, then goes on in order: the client gets each answer it
 * asked for, in its place, and its frames after the upgrade request are kept meanwhile (node:http
 * leaves the socket paused once it hands it over).
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface Unanswered {
  count: number;
  waiters: (() => void)[];
}

const unanswered = new WeakMap<Socket, Unanswered>();

/** A plain request on `socket` is being answered with `response`. */
export function trackResponse(socket: Socket, response: ServerResponse): void {
  let entry = unanswered.get(socket);
  if (entry === undefined) unanswered.set(socket, (entry = { count: 0, waiters: [] }));
  entry.count++;
  let done = false;
  const written = (): void => {
    if (done) return;
    done = true;
    if (--entry.count > 0) return;
    unanswered.delete(socket);
    for (const waiter of entry.waiters) waiter();
  };
  // 'finish': the response is handed to the socket; 'close': it never will be (socket gone).
  response.once('finish', written);
  response.once('close', written);
}

/** Resolves once the responses to the plain requests before this point on `socket` are written; undefined when none is pending. */
export function responsesWritten(socket: Socket): Promise<void> | undefined {
  const entry = unanswered.get(socket);
  if (entry === undefined) return undefined;
  return new Promise((resolve) => entry.waiters.push(resolve));
}
