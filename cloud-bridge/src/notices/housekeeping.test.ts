import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gateDecisionData } from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Attendance } from '../attendance/index.js';
import { Directory } from '../directory/index.js';
import { libraryRecords } from '../store/conformance.js';
import type { BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { NoticesConfig } from './config.js';
import { pruneNotices } from './housekeeping.js';
import { NoticeLedger, type NoticePeople, PASSAGE_LATE_MS } from './ledger.js';
import { KEEP_GIVEN_UP_MS, Notices } from './service.js';

const T0 = Date.parse('2026-11-23T00:00:00.000Z');
const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
const SCHOOL = 'school-1';
const TABLES = ['notice_webhooks', 'notice_bursts', 'notice_queue', 'notice_deliveries', 'notice_refusals'];

interface Kept {
  store: BridgeStore;
  directory: Directory;
  /** Gate rows of the school's pupils at `at`: passages in, or refused entries with a reason. */
  taps(at: number, personIds: string[], refused?: boolean): void;
}

async function withStore(use: (kept: Kept) => Promise<void> | void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'notices-kept-'));
  const store = openTestStore(join(dir, 'bridge.db'));
  try {
    const directory = new Directory(store.database);
    new Attendance({ store, directory, defaultTimeZone: 'Asia/Shanghai' });
    const taps = (at: number, personIds: string[], refused = false) =>
      store.commitRecords(
        'gate-1',
        SCHOOL,
        libraryRecords(
          'gate-1',
          personIds.map((personId) => [
            'gate.decision',
            iso(at),
            gateDecisionData({ personId, ...(refused ? { decision: 'deny', reason: 'expired' } : {}) }),
          ]),
          store.cursor('gate-1'),
        ),
      );
    await use({ store, directory, taps });
  } finally {
    store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Pupils who never changed school, named by their ids. */
const people: NoticePeople = {
  schoolOf: (_person, _at, gateSchool) => gateSchool,
  describe: (burst) => ({ school: burst.school, personId: burst.personId, name: burst.personId }),
};

const logged = () => {
  const lines: { msg: string; [field: string]: unknown }[] = [];
  return {
    lines,
    logger: pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) }),
  };
};

describe('what parent notices keep', () => {
  it('forgets a webhook taken out of the config, with what it had not sent; configured again, it starts anew', async () => {
    await withStore(async ({ store, directory, taps }) => {
      for (const id of ['a', 'b'])
        directory.putPerson({ id, school: SCHOOL, role: 'student', name: id, class: '3-1', active: true });
      const webhook = (path: string) => ({
        school: SCHOOL,
        url: `http://127.0.0.1:9/${path}`,
        secret: 'housekeeping-secret-0123456789abcdef',
        debounceMs: 0,
        batchWindowMs: 600_000,
      });
      let now = T0;
      const service = (paths: string[], logger = pino({ level: 'silent' })) =>
        new Notices({
          store,
          directory,
          config: NoticesConfig.parse({ webhooks: paths.map(webhook) }),
          logger,
          now: () => now,
        });
      const both = service(['kept', 'removed']);
      const [kept, removed] = both.status().map((hook) => hook.key) as [string, string];
      taps(T0, ['a']);
      now += 1000;
      both.tick();
      const rowsOf = (key: string) =>
        TABLES.map((table) =>
          Number(store.database.prepare(`SELECT count(*) FROM ${table} WHERE webhook = ?`).pluck().get(key)),
        );
      expect(rowsOf(removed)).toEqual([1, 1, 1, 0, 0]);

      const { lines, logger } = logged();
      const one = service(['kept'], logger);
      one.start();
      await one.stop();
      expect(lines.filter((line) => line.level === 40)).toEqual([
        expect.objectContaining({
          webhook: removed,
          undelivered: 1,
          msg: expect.stringMatching(/no longer configured/),
        }),
      ]);
      expect(rowsOf(removed)).toEqual([0, 0, 0, 0, 0]);
      expect(rowsOf(kept)).toEqual([1, 1, 1, 0, 0]);

      // An instance still configured with it (its lease lost meanwhile) takes it up after the rows
      // stored, not from the first passage ever stored.
      const pendingAfterTap = (personId: string) => {
        now += 2000;
        taps(now, [personId]);
        both.tick();
        return both.status().map((hook) => [hook.key, hook.pending]);
      };
      expect(pendingAfterTap('b')).toEqual([
        [kept, 2],
        [removed, 0],
      ]);
      expect(pendingAfterTap('a')).toEqual([
        [kept, 3],
        [removed, 1],
      ]);
      await both.stop();
    });
  });

  it('drops deliveries confirmed 7 days ago and those given up 30 days ago, logged; keeps the rest', async () => {
    await withStore(async ({ store, taps }) => {
      const ledger = new NoticeLedger(store.database);
      const hook = { key: 'h', refusals: true, debounceMs: 0, batchWindowMs: 0, batchMax: 1 };
      ledger.register(hook.key);
      taps(T0, ['a', 'b', 'c', 'd']);
      taps(T0, ['e'], true);
      ledger.advance(hook, T0 + 1000, people, store.settledEventId());
      const seqs = (
        store.database.prepare('SELECT seq FROM notice_deliveries ORDER BY seq').pluck().all() as number[]
      ).map(Number);
      expect(seqs).toHaveLength(5);
      const [a, b, c, d, e] = seqs as [number, number, number, number, number];
      const now = T0 + 31 * DAY;
      ledger.delivered('h', a, T0 + DAY);
      ledger.delivered('h', b, now - 6 * DAY);
      ledger.givenUp('h', c, 'HTTP 400', T0 + DAY / 2);
      ledger.givenUp('h', d, 'HTTP 400', now - 29 * DAY);
      ledger.delivered('h', e, T0 + DAY);
      const day = { from: iso(T0 - DAY), to: iso(T0 + DAY) };
      expect([...ledger.refusalNotices(SCHOOL, day).keys()]).toEqual(['e']);

      expect(
        pruneNotices(store.database, {
          deliveredBefore: now - 7 * DAY,
          givenUpBefore: now - KEEP_GIVEN_UP_MS,
          overdueBefore: now - 30 * DAY,
        }),
      ).toEqual([{ webhook: 'h', deliveries: 1, notices: 1 }]);
      expect(
        store.database.prepare('SELECT seq FROM notice_deliveries ORDER BY seq').pluck().all().map(Number),
      ).toEqual([b, d]);
      const queued = store.database
        .prepare('SELECT notice FROM notice_queue ORDER BY id')
        .pluck()
        .all() as string[];
      expect(queued.map((notice) => JSON.parse(notice).personId)).toEqual(['b', 'd']);
      expect(ledger.status('h')).toMatchObject({ delivered: 1, failed: 1 });
      expect(ledger.refusalNotices(SCHOOL, day).size).toBe(0);

      // The service prunes once an hour, and says what it dropped unsent.
      const { lines, logger } = logged();
      const later = now + 2 * DAY;
      const service = new Notices({
        store,
        directory: new Directory(store.database),
        config: NoticesConfig.parse({ webhooks: [] }),
        logger,
        now: () => later,
      });
      service.tick();
      expect(lines.map((line) => [line.msg, line.webhook, line.deliveries])).toEqual([
        [expect.stringMatching(/given up 30 days ago/), 'h', 1],
      ]);
      // Two days on, what was kept then is past its time too.
      expect(Number(store.database.prepare('SELECT count(*) FROM notice_deliveries').pluck().get())).toBe(0);
    });
  });

  it('tells no passage read more than 12 hours after it happened: it no longer says where the pupil is', async () => {
    await withStore(({ store, taps }) => {
      const ledger = new NoticeLedger(store.database);
      const hook = { key: 'h', debounceMs: 0, batchWindowMs: 0, batchMax: 100 };
      ledger.register(hook.key);
      taps(T0, ['backlog']);
      taps(T0 + 60 * 60_000, ['recent']);
      const now = T0 + PASSAGE_LATE_MS + 30 * 60_000;
      expect(ledger.advance(hook, now, people, store.settledEventId())).toMatchObject({
        read: 2,
        untold: { late: 1, lockdown: 0 },
        notices: 1,
      });
      const body = JSON.parse(ledger.nextDelivery('h')?.body ?? '{}') as { notices: { personId: string }[] };
      expect(body.notices.map((notice) => notice.personId)).toEqual(['recent']);
    });
  });
});
