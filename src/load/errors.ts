/**
 * Error kinds of the load generator: one short stable string per cause, counted in the summary,
 * and the sentence that tells a person which limit stopped the run.
 *
 * Kinds: `refused`, `EMFILE`, `ENFILE`, `EADDRNOTAVAIL`, `reset`, `timeout` (TCP connect to 101),
 * `status NNN` (handshake answered with another HTTP status), `bad-response`, `bad-upgrade`,
 * `bad-accept`, `bad-extension` (an extension answer that does not fit our offer, RFC 7692 §5.1), `protocol CODE WS_ERR_…` (the server broke RFC 6455: we closed with CODE),
 * `server-close CODE` (the server closed during the run), `dropped` (TCP closed without a close
 * frame), `echo-mismatch` (a reply that is not the next message we sent), `close-timeout`
 * (no close handshake within the time limit at the end).
 */

/** The error kind of a socket error. */
export function socketErrorKind(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED': return 'refused';
    case 'ECONNRESET':
    case 'EPIPE': return 'reset';
    case 'ETIMEDOUT': return 'timeout';
    case 'EMFILE':
    case 'ENFILE':
    case 'EADDRNOTAVAIL':
    case 'EADDRINUSE':
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return error.code;
    default: return error.code ?? 'socket-error';
  }
}

export interface LimitFacts {
  /** Soft open-file limit of one generator process. */
  openFileLimit: number;
  /** Connections one generator process holds at most. */
  connectionsPerProcess: number;
  /** The kernel's ephemeral port range for one source address. */
  portRange: [number, number];
  sourceAddresses: number;
}

/** One sentence per limit that the errors point to, most decisive first. */
export function explainErrors(errors: Record<string, number>, facts: LimitFacts, target: string): string[] {
  const lines: string[] = [];
  const has = (kind: string) => (errors[kind] ?? 0) > 0;
  const ports = facts.portRange[1] - facts.portRange[0] + 1;
  if (has('EMFILE')) {
    lines.push(`EMFILE: the generator ran out of file descriptors: ulimit -n is ${facts.openFileLimit}, room for about ` +
      `${facts.connectionsPerProcess} connections per process; raise ulimit -n or spread over more --processes ` +
      '(by default the generator starts enough)');
  }
  if (has('ENFILE')) lines.push('ENFILE: the system-wide file table is full (fs.file-max)');
  if (has('EADDRNOTAVAIL')) {
    lines.push(`EADDRNOTAVAIL: no local address and port to connect from: either out of ports (${ports} ephemeral ports, ` +
      `${facts.portRange[0]}-${facts.portRange[1]}, per source address, ${facts.sourceAddresses} address(es) in use: ` +
      'add --source-ips 127.0.0.1-127.0.0.N), or a --source-ips address that is not on this machine');
  }
  if (has('refused')) {
    lines.push(`refused: nothing accepted at ${target} (no server, or its accept backlog overflowed: try a lower --ramp)`);
  }
  if (has('timeout')) {
    lines.push('timeout: handshakes not answered in time: the server may be at its own open-file limit, ' +
      'out of CPU, or its backlog full (try a lower --ramp or a longer --timeout)');
  }
  for (const kind of Object.keys(errors)) {
    if (kind.startsWith('status ')) lines.push(`${kind}: the server refused the handshake with HTTP ${kind.slice(7)}`);
  }
  if (has('reset')) lines.push('reset: the server reset connections (crashed, overloaded, or at a limit)');
  return lines;
}
