/**
 * The opening handshake's request as hooks see it: plain data, the same in every mode, so that
 * it can cross from the worker that parsed it to the main thread where a hook passed to
 * `listen()` runs.
 */
import { STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { HandshakeError } from '../protocol/errors.js';

export interface UpgradeRequest {
  method: string;
  /** The request target: path and query, as sent. */
  url: string;
  /** Header names in lower case, as Node's `IncomingMessage.headers`. */
  headers: IncomingHttpHeaders;
  remoteAddress: string;
  remotePort: number;
}

/** Answer of the `authorize` hook: true accepts, false refuses with 401, or a chosen status. */
export type AuthorizeVerdict = boolean | { status: number; reason?: string };

export type AuthorizeHook = (request: UpgradeRequest) => AuthorizeVerdict | Promise<AuthorizeVerdict>;

export function upgradeRequestOf(request: IncomingMessage): UpgradeRequest {
  return {
    method: request.method ?? 'GET',
    url: request.url ?? '/',
    headers: request.headers,
    remoteAddress: request.socket.remoteAddress ?? '',
    remotePort: request.socket.remotePort ?? 0,
  };
}

/**
 * Runs the hook where it lives; an exception becomes a 500 verdict (reported to `onError`), so
 * what crosses threads is always a plain verdict.
 */
export async function runAuthorizeHook(hook: AuthorizeHook, request: UpgradeRequest, onError: (error: Error) => void): Promise<AuthorizeVerdict> {
  try {
    return await hook(request);
  } catch (error) {
    onError(error as Error);
    return { status: 500, reason: 'authorization failed' };
  }
}

/** Throws the refusal a verdict stands for; returns when it accepts. */
export function enforceVerdict(verdict: AuthorizeVerdict): void {
  if (verdict === true) return;
  if (verdict === false) throw new HandshakeError(401, 'not authorized');
  const status = Number.isInteger(verdict.status) && verdict.status >= 400 && verdict.status < 600 ? verdict.status : 403;
  throw new HandshakeError(status, verdict.reason ?? STATUS_CODES[status] ?? 'refused');
}
