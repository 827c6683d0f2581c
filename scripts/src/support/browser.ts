import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's chromium: the set-up installs the `chromium` package for the tests and benchmarks. */
export const CHROMIUM = process.env.EDUCARD_CHROMIUM ?? '/usr/bin/chromium';

/**
 * A real, headless Chromium for the terminal pages. No sandbox: the tests run as root in a container
 * where Chromium's sandbox cannot start; no GPU and no background traffic on a machine without either.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: run as root apt-get install -y chromium (or set EDUCARD_CHROMIUM)`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
}
