import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
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

/**
 * axe-core's serious and critical findings on the page as it stands, by WCAG 2.1 A and AA, and text of
 * the same colour as its background: axe leaves a 1:1 contrast for a person to judge (it may be text
 * hidden on purpose); our pages hide none that way, so it is invisible text.
 */
export async function seriousViolations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'])
    .analyze();
  const invisible = results.incomplete
    .filter((finding) => finding.id === 'color-contrast')
    .flatMap((finding) => finding.nodes)
    .filter((node) =>
      node.any.some((check) => (check.data as { contrastRatio?: number })?.contrastRatio === 1),
    )
    .map((node) => `invisible text (1:1 contrast): ${node.target.join(' ')}`);
  return [
    ...results.violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map(
        (violation) =>
          `${violation.id} (${violation.impact}): ${violation.help} — ${violation.nodes
            .map((node) => node.target.join(' '))
            .join(', ')}`,
      ),
    ...invisible,
  ];
}
