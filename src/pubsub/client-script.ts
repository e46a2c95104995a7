/**
 * `wasmsocket/client` as the server serves it at `/client.js`, for pages that import it without a
 * bundler: the built module, read once, without its source-map comment (the map is not served).
 */
import { readFileSync } from 'node:fs';

let script: string | undefined;

/** The client module's text; throws when this build has none. */
export function clientScript(): string {
  script ??= readFileSync(new URL('../client/client.js', import.meta.url), 'utf8').replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n');
  return script;
}
