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

/**
 * Answer of an `authorize` hook or an application's `upgrade`: `true` accepts, `{ data }` accepts
 * and gives the connection `conn.data`, `false` refuses with 401, `{ status, reason }` with that
 * status. `data` must survive structured clone: in worker mode it crosses threads, and it is
 * cloned inline too so that both modes behave alike.
 */
export type AuthorizeVerdict = boolean | { status: number; reason?: string } | { data: unknown };

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
 * Runs a hook where it lives. What it returns is checked and cloned here, so that what crosses
 * threads is always a plain, valid verdict: an exception, an answer that is no verdict (say, a
 * forgotten `return`) or data that cannot be cloned becomes a 500 verdict reported to `onError`.
 */
export async function runAuthorizeHook(hook: AuthorizeHook, request: UpgradeRequest, onError: (error: Error) => void): Promise<AuthorizeVerdict> {
  try {
    const verdict: unknown = await hook(request);
    if (typeof verdict === 'boolean') return verdict;
    if (verdict !== null && typeof verdict === 'object') {
      if ('data' in verdict) return { data: cloneData(verdict.data) };
      if ('status' in verdict) {
        const { status, reason } = verdict as { status: unknown; reason?: unknown };
        return { status: Number(status), reason: reason === undefined ? undefined : String(reason) };
      }
    }
    throw new TypeError(`a handshake hook must return true, false, { data } or { status, reason }; got ${String(verdict)}`);
  } catch (error) {
    onError(error as Error);
    return { status: 500, reason: 'authorization failed' };
  }
}

/** Throws the refusal a verdict stands for; returns the connection's data when it accepts. */
export function enforceVerdict(verdict: AuthorizeVerdict): unknown {
  if (verdict === true) return undefined;
  if (verdict === false) throw new HandshakeError(401, 'not authorized');
  if ('data' in verdict) return verdict.data;
  const status = Number.isInteger(verdict.status) && verdict.status >= 400 && verdict.status < 600 ? verdict.status : 403;
  throw new HandshakeError(status, verdict.reason ?? STATUS_CODES[status] ?? 'refused');
}

/** The same copy in every mode: in worker mode the data crosses threads by structured clone. */
function cloneData(data: unknown): unknown {
  try {
    return structuredClone(data);
  } catch (error) {
    throw new TypeError(`the data a handshake hook returned could not be cloned (it must survive structured clone): ${(error as Error).message}`);
  }
}
