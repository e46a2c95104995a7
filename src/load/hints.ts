/**
 * Hints: what a run's errors suggest trying, in words a newcomer can act on. The error kinds say
 * what happened; a hint says what to do (a scenario that fits the server, --insecure, ws://).
 */
import type { LoadTarget, Scenario } from './options.js';

/** The most of a server's message a hint quotes. */
const SAMPLE_CHARS = 160;

/** TLS verification failures (Node's codes) that a self-signed or test certificate causes. */
const CERTIFICATE_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** What OpenSSL says when the first bytes back are not TLS: the port speaks plain TCP (HTTP). */
const NOT_TLS_ERRORS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_HTTP_REQUEST']);

export interface HintSubject {
  errors: Record<string, number>;
  messages: { received: number };
}

/** A server message as a hint quotes it: text as is (shortened), binary by its size. */
export function describeMessage(data: Buffer, isBinary: boolean): string {
  if (isBinary) return `a ${data.length}-byte binary message`;
  const text = data.toString('utf8', 0, Math.min(data.length, SAMPLE_CHARS * 4));
  return text.length > SAMPLE_CHARS ? `${text.slice(0, SAMPLE_CHARS)}…` : text;
}

/** The hint for replies that are not our echo: what the server said, and the scenario that fits. */
function echoMismatchHint(count: number, received: number, sample: string | undefined): string {
  const share = received === 0 ? `none of ${count} replies was` : `${count} of ${count + received} replies were not`;
  const said = sample === undefined ? '' : `: the server answered ${sample}`;
  const pubsub = sample !== undefined && /^\s*\{.*"type"\s*:\s*"error"/.test(sample);
  return `${share} the echo of what was sent${said}. ` + (pubsub
    ? 'That is a pub/sub server (wasmsocket serve runs the pubsub app by default, as `npm start` does): ' +
      'try --scenario broadcast, or load-test your own protocol with --scenario ./your-scenario.mjs'
    : 'The server is not an echo server: for a pub/sub server try --scenario broadcast, ' +
      'for your own protocol --scenario ./your-scenario.mjs, to only open connections --scenario connect');
}

export function hintsFor(options: { scenario: Scenario; target: LoadTarget }, result: HintSubject,
  samples: Record<string, string>): string[] {
  const hints: string[] = [];
  const { errors } = result;
  const mismatches = errors['echo-mismatch'] ?? 0;
  if (options.scenario === 'echo' && mismatches > 0) {
    hints.push(echoMismatchHint(mismatches, result.messages.received, samples['echo-mismatch']));
  }
  for (const kind of Object.keys(errors).filter((name) => name.startsWith('scenario-error '))) {
    hints.push(`your scenario's ${kind.slice('scenario-error '.length)} hook threw ${errors[kind]} time(s); the first: ${samples[kind] ?? '?'}`);
  }
  const certificate = Object.keys(errors).find((kind) => CERTIFICATE_ERRORS.has(kind));
  if (certificate !== undefined && options.target.secure && !options.target.insecure) {
    hints.push(`the server's certificate does not verify (${certificate}): for a self-signed or test certificate add --insecure`);
  }
  if (options.target.secure && Object.keys(errors).some((kind) => NOT_TLS_ERRORS.has(kind))) {
    const plain = options.target.url.replace(/^wss:/, 'ws:');
    hints.push(`the server speaks ws://, not wss:// (its answer is not TLS): try ${plain}`);
  }
  return hints;
}
