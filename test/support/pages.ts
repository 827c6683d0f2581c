import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { REPO_ROOT } from './processes.js';

/** Where the browser tests keep their screenshots (ignored by git): what a person can look at after a run. */
export const SCREENSHOTS = join(REPO_ROOT, 'test-artifacts', 'screenshots');

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
