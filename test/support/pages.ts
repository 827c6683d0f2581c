import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { REPO_ROOT } from './processes.js';

/** Where the browser tests keep their screenshots (ignored by git): what a person can look at after a run. */
export const SCREENSHOTS = join(REPO_ROOT, 'test-artifacts', 'screenshots');

/**
 * A fresh browser context signed in to the bridge's pages at `base` (English, the school's time zone),
 * its default wait shorter than a test's own limit, so that a missing element is named in the failure.
 */
export async function signInToBridge(
  browser: Browser,
  base: string,
  username: string,
  { password, timezoneId, timeoutMs = 8_000 }: { password: string; timezoneId: string; timeoutMs?: number },
): Promise<Page> {
  const context = await browser.newContext({ locale: 'en-US', timezoneId });
  const page = await context.newPage();
  page.setDefaultTimeout(timeoutMs);
  await page.goto(`${base}/?lang=en`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.bar small').waitFor();
  return page;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
