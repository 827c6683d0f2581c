import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { libraryRecords } from '@educard/cloud-bridge/store-conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startBridge } from '../support/bridge.js';
import { bridgeCli } from '../support/cli.js';
import { commitTaps } from '../support/gate-passages.js';

// A bridge on the real clock: every date is derived from it. The running bridge keeps gate passages
// and library events 1,000 days; the config the backup reads has the defaults (180 and 365 days) the
// district has just gone back to, so the backup leaves out the taps of 400 days ago and the loan
// returned 480 days ago that the live purge has not removed yet.

const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();

let dir: string;
let bridge: Bridge;
let restored: Bridge | undefined;
let configFile: string;
let recipient: string;

/** `restore` of a backup with an identity into the fresh data directory. */
const restore = (from: string, identity: string, ...flags: string[]) =>
  bridgeCli(['restore', '--from', from, '--identity', identity, '--data-dir', join(dir, 'fresh'), ...flags]);

const eventsOf = (b: Bridge) =>
  b.store
    .queryEvents({ limit: 1000 })
    .map((e) => ({ device: e.record.device, seq: e.record.seq, hash: e.record.hash }));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-backup-'));
  bridge = await startBridge(join(dir, 'data'), {
    retention: { days: { 'gate.decision': 1000, 'library.*': 1000 } },
  });
  bridge.directory.putSchool({
    id: 's-a',
    name: 'No. 1 Primary',
    times: { bellTime: '08:00', cutoffTime: '09:30', dismissalTime: '16:30' },
  });
  bridge.directory.putPerson({
    id: 'p-backup-1',
    school: 's-a',
    role: 'student',
    name: 'Pupil Backup',
    active: true,
  } as never);
  commitTaps(bridge, 'gate-1', 's-a', [
    { personId: 'p-backup-1', at: ago(400), direction: 'in' },
    { personId: 'p-backup-1', at: ago(400), direction: 'out' },
    { personId: 'p-backup-1', at: ago(1), direction: 'in' },
    { personId: 'p-backup-2', at: ago(1), direction: 'in' },
  ]);
  // A book lent 500 days ago and back 20 days later, and one lent yesterday and still out.
  const lent = (loanId: string, personId: string, at: string) => ({
    loanId,
    itemId: loanId === 'desk-1:1' ? 'B1' : 'B2',
    personId,
    dueAt: new Date(Date.parse(at) + 21 * DAY).toISOString(),
  });
  bridge.store.commitRecords(
    'desk-1',
    's-a',
    libraryRecords('desk-1', [
      ['library.checkout', ago(500), lent('desk-1:1', 'p-backup-1', ago(500))],
      ['library.return', ago(480), { loanId: 'desk-1:1', itemId: 'B1' }],
      ['library.checkout', ago(1), lent('desk-1:2', 'p-backup-2', ago(1))],
    ]),
  );
  configFile = join(dir, 'bridge.json');
  await writeFile(configFile, JSON.stringify({ dataDir: join(dir, 'data'), adminToken: ADMIN_TOKEN }));
  const key = await bridgeCli(['backup-key', '--out', join(dir, 'identity.txt'), '--json']);
  expect(key.code).toBe(0);
  recipient = key.json<{ recipient: string }>().recipient;
});
afterAll(async () => {
  await restored?.stop();
  await bridge.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('educard-bridge backup and restore', () => {
  it('backs a running bridge up, encrypted, without what is past its retention, and restores it into a fresh bridge', async () => {
    expect(recipient).toMatch(/^age1/);
    expect((await stat(join(dir, 'identity.txt'))).mode & 0o777).toBe(0o600);
    const file = join(dir, 'bridge.age');
    const made = await bridgeCli([
      'backup',
      '--config',
      configFile,
      '--to',
      file,
      '--recipient',
      recipient,
      '--json',
    ]);
    expect(made.code, made.stderr).toBe(0);
    expect(made.json()).toMatchObject({ kind: 'sqlite', events: 3, purged: 4, file });

    // Nothing of the database in clear: not its header, not a person id, not a name.
    const bytes = await readFile(file);
    expect(bytes.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    for (const clear of ['SQLite format 3', 'p-backup-1', 'Pupil Backup', 'gate.decision'])
      expect(bytes.includes(clear)).toBe(false);

    // Another key does not open it, and nothing is written.
    const other = await bridgeCli(['backup-key', '--out', join(dir, 'other.txt')]);
    expect(other.code).toBe(0);
    const fresh = join(dir, 'fresh');
    const wrongKey = await restore(file, join(dir, 'other.txt'));
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/could not be restored/);
    await expect(stat(join(fresh, 'bridge.db'))).rejects.toThrow();

    // A damaged file does not restore either.
    const damaged = Buffer.from(bytes);
    damaged[damaged.length - 40] = (damaged[damaged.length - 40] as number) ^ 0xff;
    await writeFile(join(dir, 'damaged.age'), damaged);
    const bad = await restore(join(dir, 'damaged.age'), join(dir, 'identity.txt'));
    expect(bad.code).toBe(1);
    await expect(stat(join(fresh, 'bridge.db'))).rejects.toThrow();

    const back = await restore(file, join(dir, 'identity.txt'), '--json');
    expect(back.code, back.stderr).toBe(0);
    expect(back.json()).toMatchObject({ events: 3 });
    restored = await startBridge(fresh);
    const recent = eventsOf(bridge).filter((e) => e.seq > 2);
    expect(eventsOf(restored)).toEqual(recent);
    expect(restored.directory.person('p-backup-1')).toEqual(bridge.directory.person('p-backup-1'));
    expect(restored.store.cursor('gate-1')).toEqual(bridge.store.cursor('gate-1'));
    // The loan returned past the library's retention is not in the copy's ledger; the one out is. The
    // running bridge, keeping its own rules, still has both.
    const loansOf = (b: Bridge) =>
      b.store.database.prepare('SELECT loan_id FROM loans ORDER BY loan_id').pluck().all();
    expect(loansOf(restored)).toEqual(['desk-1:2']);
    expect(loansOf(bridge)).toEqual(['desk-1:1', 'desk-1:2']);

    // A database already there is replaced only when asked, and kept aside.
    await restored.stop();
    restored = undefined;
    const again = await restore(file, join(dir, 'identity.txt'));
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/--replace/);
    const replaced = await restore(file, join(dir, 'identity.txt'), '--replace', '--json');
    expect(replaced.code, replaced.stderr).toBe(0);
    const aside = replaced.json<{ replaced: string }>().replaced;
    expect((await stat(aside)).size).toBeGreaterThan(0);
  });

  it('refuses a recipient that is not a public key, as bad usage', async () => {
    const run = await bridgeCli([
      'backup',
      '--config',
      configFile,
      '--to',
      join(dir, 'x.age'),
      '--recipient',
      'age1nope',
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/neither a public key/);
  });
});
