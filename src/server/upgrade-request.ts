/**
 * The opening handshake's request as hooks see it (the application contract declares it:
 * apps/app.ts), made from Node's request, and the verdicts of the hooks run and enforced.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import { HandshakeError } from '../protocol/errors.js';
import type { AuthorizeHook, AuthorizeVerdict, UpgradeRequest } from '../apps/app.js';

export type { UpgradeRequest, AuthorizeVerdict, AuthorizeHook };

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
