/**
 * Launches the system's headless Chromium (Debian's `chromium` package) through playwright-core,
 * which ships no browser of its own. A missing executable is an error, never a silent skip:
 * the browser tests are part of what CI must prove.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const DEFAULT_CHROMIUM_PATH = '/usr/bin/chromium';

/** No sandbox (containers), no GPU, and none of Chromium's own background network traffic. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** `CHROMIUM_PATH` from the environment, else Debian's location. */
export function chromiumPath(): string {
  return process.env.CHROMIUM_PATH || DEFAULT_CHROMIUM_PATH;
}

export async function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!existsSync(executablePath)) {
    throw new Error(
      `Chromium not found at ${executablePath}. The browser tests need it: install Debian's \`chromium\` ` +
        'package (`apt-get install chromium`; .ci/run installs it in CI) or set CHROMIUM_PATH to a Chromium executable.',
    );
  }
  return chromium.launch({ executablePath, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs], timeout: 15_000 });
}
