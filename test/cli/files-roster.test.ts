import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sampleCard, sampleUid } from '@educard/terminal-sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { educard } from '../support/cli.js';
import { type Provisioned, provisioned } from './files-fixture.js';

let device: Provisioned;
beforeAll(async () => {
  device = await provisioned();
});
afterAll(async () => {
  await rm(device.dir, { recursive: true, force: true });
});

/** Every file of the roster directory with its modification time: what a read-only command must not touch. */
async function snapshotDir(dir: string) {
  const names = (await readdir(dir)).sort();
  return Promise.all(names.map(async (name) => [name, (await stat(join(dir, name))).mtimeMs] as const));
}

describe('educard roster, read from the files', () => {
  it('show: school, version, expiry, key set and the cards by status and role, as text and JSON', async () => {
    const rosterDir = join(device.dataDir, 'roster');
    const before = await snapshotDir(rosterDir);
    const text = await educard(device.config, ['roster', 'show']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/school +school-1/);
    expect(text.stdout).toMatch(/version +2, signed under key set 1/);
    expect(text.stdout).toContain(`expires    ${device.rosterExpiresAt}`);
    expect(text.stdout).toMatch(/^active +1 +1 +1 +3$/m);
    const json = await educard(device.config, ['roster', 'show', '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      school: 'school-1',
      version: 2,
      keySetVersion: 1,
      expired: false,
      expiresAt: device.rosterExpiresAt,
      cards: {
        total: 4,
        byStatus: { active: 3, lost: 1, cancelled: 0, suspended: 0 },
        byRole: { student: 2, teacher: 1, staff: 1 },
      },
      warnings: [],
    });
    expect(await snapshotDir(rosterDir)).toEqual(before);
  });

  it('lookup: a card by its id or its UID (any case, with colons); an unknown card exits 1', async () => {
    const byId = await educard(device.config, ['roster', 'lookup', sampleCard(2).cardId, '--json']);
    expect(byId.code, byId.stderr).toBe(0);
    expect(JSON.parse(byId.stdout)).toMatchObject({
      matchedBy: 'card-id',
      rosterVersion: 2,
      validity: 'valid',
      card: { cardId: sampleCard(2).cardId, status: 'lost', role: 'student', credential: { kind: 'uid' } },
    });
    const uid = sampleUid(3)
      .toLowerCase()
      .replace(/(..)(?!$)/g, '$1:');
    const byUid = await educard(device.config, ['roster', 'lookup', uid]);
    expect(byUid.code, byUid.stderr).toBe(0);
    expect(byUid.stdout).toContain(`card       ${sampleCard(3).cardId} (found by UID ${uid})`);
    expect(byUid.stdout).toMatch(/person +p0000003 "[^"]+" \(teacher, grade/);
    expect(byUid.stdout).toMatch(/credential edu-cpu \(signing card, key /);
    expect(byUid.stdout).toMatch(/^ {2}school-day: Mon,Tue,Wed,Thu,Fri 06:30-18:30$/m);

    const unknown = await educard(device.config, ['roster', 'lookup', 'E999999999']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('card E999999999 is not in roster version 2');
    expect(unknown.stdout).toBe('');
  });

  it('verify: every stored file passes; a body changed at rest is named, with exit 1', async () => {
    const ok = await educard(device.config, ['roster', 'verify', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const audit = JSON.parse(ok.stdout);
    expect(audit).toMatchObject({
      ok: true,
      provisioned: true,
      loads: { version: 2, cards: 4, keySetVersion: 1 },
    });
    expect(audit.files.map((f: { file: string; ok: boolean }) => [f.file, f.ok])).toEqual([
      ['anchor.json', true],
      ['keyset-0000000001.json', true],
      ['snapshot-0000000001', true],
      ['delta-0000000002', true],
    ]);

    const body = join(device.dataDir, 'roster', 'snapshot-0000000001.body.json');
    const original = await readFile(body);
    const tampered = Buffer.from(original.toString('utf8').replace('"lost"', '"lose"'));
    expect(tampered.equals(original)).toBe(false);
    await writeFile(body, tampered);
    try {
      const bad = await educard(device.config, ['roster', 'verify']);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(
        /snapshot-0000000001 +FAIL +digest-mismatch: body SHA-256 differs from the manifest/,
      );
      expect(bad.stdout).toContain('would load: NOTHING');
      expect(bad.stdout).toContain('roster check FAILED');
      expect(bad.stderr).toContain('keep a copy of the roster directory');
      const json = JSON.parse((await educard(device.config, ['roster', 'verify', '--json'])).stdout);
      expect(json.ok).toBe(false);
      expect(json.problems).toContain(
        'snapshot-0000000001: digest-mismatch: body SHA-256 differs from the manifest',
      );
      // The store's own view agrees: with the snapshot refused, nothing loads.
      const show = await educard(device.config, ['roster', 'show']);
      expect(show.code).toBe(1);
      expect(show.stderr).toMatch(/no roster loads from .*stored roster snapshot does not verify/);
    } finally {
      await writeFile(body, original);
    }
  });
});
