import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Retention, RetentionConfig } from '../retention/index.js';
import type { BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { AuditLog } from './audit.js';

/** The test's clock: every entry is dated from it. */
const NOW = new Date('2027-03-15T04:00:00.000Z');
const DAY_MS = 86_400_000;
const daysAgo = (days: number) => new Date(NOW.getTime() - days * DAY_MS);
const logger = pino({ level: 'silent' });

let dir: string;
let store: BridgeStore;
let clock: Date;
let audit: AuditLog;

/** Entries written `days` ago, as the log dates them. */
function writeAt(days: number, count: number, action = 'roster.import') {
  clock = daysAgo(days);
  for (let i = 0; i < count; i++) audit.record({ actor: 'admin', action, outcome: 'ok', school: 's-1' });
  clock = NOW;
}

const actions = () => audit.query({ limit: 100 }).map((entry) => entry.action);
const run = (sql: string) => () => store.database.prepare(sql).run();

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-purge-'));
  store = openTestStore(join(dir, 'bridge.db'));
  clock = NOW;
  audit = new AuditLog(store.database, logger, () => clock);
});
afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

/** The purge at full speed: nothing else writes in these tests. */
const UNPACED = { share: 1, perSecond: null };

describe('the audit log after its retention', () => {
  it('purges only its oldest entries, up to a date, and says so in an entry of its own', async () => {
    writeAt(4 * 365, 5, 'old.entry');
    writeAt(2 * 365, 3, 'kept.entry');
    expect(run('DELETE FROM audit_log WHERE id = 1')).toThrow(/append-only/);

    expect(await audit.purgeBefore(daysAgo(3 * 365), UNPACED)).toBe(5);
    expect(actions()).toEqual(['audit.purge', 'kept.entry', 'kept.entry', 'kept.entry']);
    const [purge] = audit.query({ action: 'audit.purge', limit: 1 });
    expect(purge).toMatchObject({
      actor: 'bridge',
      detail: { entries: 5, upTo: daysAgo(3 * 365).toISOString(), lastId: 5 },
    });
    // Nothing to purge: no entry.
    expect(await audit.purgeBefore(daysAgo(3 * 365), UNPACED)).toBe(0);
    expect(actions()).toHaveLength(4);
  });

  it('still refuses to edit or delete anything else, and its horizon moves only forward, after its entry', async () => {
    writeAt(4 * 365, 3);
    writeAt(10, 2);
    await audit.purgeBefore(daysAgo(3 * 365), UNPACED);
    expect(run('DELETE FROM audit_log')).toThrow(/append-only/);
    expect(run("UPDATE audit_log SET actor = 'someone' WHERE id = 4")).toThrow(/append-only/);
    // Moving the horizon by hand: backwards, past the newest entry, or with no purge entry just written.
    expect(run('UPDATE audit_purge_horizon SET up_to_id = 1')).toThrow(/only moves forward/);
    expect(run('UPDATE audit_purge_horizon SET up_to_id = 1000')).toThrow(/only moves forward/);
    audit.record({ actor: 'admin', action: 'accounts.create', outcome: 'ok' });
    expect(run('UPDATE audit_purge_horizon SET up_to_id = 4')).toThrow(/only moves forward/);
    expect(run('DELETE FROM audit_purge_horizon')).toThrow(/kept/);
    expect(actions()).toEqual(['accounts.create', 'audit.purge', 'roster.import', 'roster.import']);
  });

  it('runs with the retention purge at auditDays (3 years by default; null keeps the log)', async () => {
    writeAt(1096, 4);
    writeAt(1094, 1);
    const retention = (config = {}) =>
      new Retention({
        db: store.database,
        config: RetentionConfig.parse({ purgeShare: 1, ...config }),
        central: 'off',
        audit,
        logger,
        now: () => NOW,
        purgeAudit: (before, pace, signal) => audit.purgeBefore(before, pace, signal),
      });
    expect((await retention({ auditDays: null }).runOnce()).auditPurged).toBe(0);
    expect((await retention().runOnce()).auditPurged).toBe(4);
    expect(actions()).toEqual(['audit.purge', 'roster.import']);
  });
});
