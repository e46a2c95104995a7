/** A connection server's settings as listen() makes them from its defaults, for tests that build one directly. */
import { connectionSettings as settingsOf, resolveOptions } from '../../src/server/options.js';
import type { ConnectionSettings } from '../../src/server/connection-server.js';

export function connectionSettings(overrides: Partial<ConnectionSettings> = {}): ConnectionSettings {
  return { ...settingsOf(resolveOptions({})), ...overrides };
}
