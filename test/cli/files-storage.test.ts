import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Journal } from '@educard/gateway/journal';
import { createLogger } from '@educard/gateway/log';
import { afterEach, describe, expect, it } from 'vitest';
import { educard, runCommand } from '../support/cli.js';
import { provisioned } from './files-fixture.js';

/** What a technician sees of damaged storage with the gateway stopped, and the one refusal to start. */

const made: string[] = [];
afterEach(async () => {
  for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
});

interface Check {
  id: string;
  status: string;
  detail: string;
  remedy?: string;
}

const checks = async (config: string) => {
  const run = await educard(config, ['doctor', '--json']);
  return (run.json() as { checks: Check[] }).checks;
};

describe('damaged storage, the gateway stopped', () => {
  it('doctor lists the files kept aside and the last loss, each with what to do; a clean journal passes', async () => {
    const device = await provisioned();
    made.push(device.dir);
    const before = await checks(device.config);
    expect(before.find((c) => c.id === 'quarantine')).toMatchObject({ status: 'pass' });
    expect(before.find((c) => c.id === 'storage')).toMatchObject({ status: 'pass' });
    expect(before.find((c) => c.id === 'journal-loss')).toBeUndefined();

    // A byte flipped in the journal's first record, with records after it: the next open quarantines it.
    const journalDir = join(device.dataDir, 'journal');
    const [segment] = (await readdir(journalDir)).filter((n) => n.startsWith('seg-'));
    const path = join(journalDir, segment as string);
    const bytes = await readFile(path);
    bytes[20] = (bytes[20] as number) ^ 0x01;
    await writeFile(path, bytes);
    const journal = await Journal.open({
      dir: journalDir,
      device: 'gate-01',
      logger: createLogger('test', { level: 'silent' }),
    });
    await journal.close();

    const after = await checks(device.config);
    expect(after.find((c) => c.id === 'quarantine')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(
        /^1 damaged file\(s\) kept aside: journal\/quarantine\/seg-000000000001\.log\.\d{8}T\d{6}Z \(seg-000000000001\.log is damaged at byte 0/,
      ),
      remedy: expect.stringContaining('quarantine'),
    });
    expect(after.find((c) => c.id === 'journal-loss')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('corrupt, records 1 to 1'),
      remedy: expect.stringContaining('nothing to repair here'),
    });
    // Warnings, no failure: the gateway runs on a journal that was damaged.
    expect(after.find((c) => c.id === 'journal-loss')?.status).not.toBe('fail');
  }, 90_000);

  it('a damaged device key: doctor says exactly what to do, and the service refuses to start saying so', async () => {
    const device = await provisioned();
    made.push(device.dir);
    await writeFile(join(device.dataDir, 'device-key.json'), '{"seed":"AAAA');
    expect((await checks(device.config)).find((c) => c.id === 'device-key')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('is damaged (not JSON)'),
      remedy: expect.stringContaining('educard-bridge devices revoke gate-01'),
    });
    const service = await runCommand('gateway/dist/main.js', ['--config', device.config]);
    expect(service.code).toBe(1);
    expect(service.stderr).toContain('device-key.json is damaged (not JSON');
    expect(service.stderr).toContain('educard doctor says what to do');
  }, 90_000);

  it('a damaged terminal credential: doctor names the terminal and the commands that issue it a new one', async () => {
    const device = await provisioned();
    made.push(device.dir);
    for (const id of ['desk-1', 'kiosk-1']) {
      const added = await educard(device.config, [
        'terminals',
        'add',
        id,
        '--stations',
        'gate-main',
        '--json',
      ]);
      expect(added.code).toBe(0);
    }
    // The digest of desk-1's password rots in the file: the configuration no longer parses.
    const raw = JSON.parse(await readFile(device.config, 'utf8'));
    const desk = raw.terminals.terminals[0];
    desk.passwordSha256 = `${desk.passwordSha256.slice(0, 30)}\u0000${desk.passwordSha256.slice(31)}`;
    await writeFile(device.config, JSON.stringify(raw));
    expect((await checks(device.config)).find((c) => c.id === 'config')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('terminals.terminals.0.passwordSha256'),
      remedy: expect.stringMatching(
        /^Terminal desk-1's credential is damaged: sudo educard terminals remove desk-1 && sudo educard terminals add desk-1/,
      ),
    });
    // The remedy works: removing it makes the file valid again, and the other terminal stays.
    expect((await educard(device.config, ['terminals', 'remove', 'desk-1'])).code).toBe(0);
    expect((await checks(device.config)).find((c) => c.id === 'config')).toMatchObject({ status: 'pass' });
    const list = await educard(device.config, ['terminals', 'list', '--json']);
    expect(list.json()).toEqual({ terminals: [{ id: 'kiosk-1', stations: ['gate-main'] }] });
  }, 90_000);
});
