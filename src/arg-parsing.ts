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

/** Edit distance (insert, delete, substitute, swap of neighbours): how far a typo is from a name. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      rows[i][j] = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) rows[i][j] = Math.min(rows[i][j], rows[i - 2][j - 2] + 1);
    }
  }
  return rows[a.length][b.length];
}

/**
 * The known option nearest to a mistyped one (`conections` → `connections`), or undefined when
 * none is close enough to be a likely typo (a third of the name, at least 2 edits).
 */
export function nearestOption(typed: string, known: readonly string[]): string | undefined {
  const name = typed.replace(/^-+/, '').split('=')[0];
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = candidate.startsWith(name) && name.length >= 3 ? 1 : editDistance(name, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** The one-line message for an unknown option, naming the nearest known one when there is one. */
export function unknownOptionMessage(error: Error & { code?: string }, known: readonly string[]): string | undefined {
  if (error.code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return undefined;
  const typed = /Unknown option '([^']+)'/.exec(error.message)?.[1];
  if (typed === undefined) return undefined;
  const nearest = nearestOption(typed, known);
  return `unknown option ${typed}` + (nearest === undefined ? '' : `: did you mean --${nearest}?`);
}
