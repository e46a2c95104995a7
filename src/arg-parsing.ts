/** What `wasmsocket serve` and `wasmsocket load` share in reading their flags with node:util parseArgs. */

/**
 * parseArgs reads `--port -1` as two options and reports it in three lines. Joined as
 * `--port=-1`, a negative value reaches our own range checks and their one-line messages.
 */
export function joinNegativeValues(args: readonly string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const next = args[i + 1];
    if (arg.startsWith('--') && !arg.includes('=') && next !== undefined && /^-\d/.test(next)) {
      joined.push(`${arg}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

/** parseArgs' own messages can span lines; the CLI reports one. */
export function firstLine(message: string): string {
  return message.split('\n')[0];
}
