import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addDays, type Bridge, zonedInstant } from '@educard/cloud-bridge';
import { checkoutEvent, libraryRecords } from '@educard/cloud-bridge/store-conformance';
import { until } from '@educard/scripts/support';
import { sampleCard, validAround } from '@educard/terminal-sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAdmin, startClockedBridge, TestClock } from '../support/accounts.js';
import { ADMIN_TOKEN, enrollStoreGate } from '../support/bridge.js';
import { bridgeCli } from '../support/cli.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

/**
 * A school library's reminders to parents of books overdue, through a real bridge to a real HTTP
 * receiver that checks each delivery's signature: after the school's dismissal on a school day, one
 * notice a pupil listing their overdue books with the catalogue's titles. On a set clock: Monday
 * 2026-11-23 in Asia/Shanghai, the school dismissing at 16:00.
 */

const SCHOOL = 'school-1';
const ZONE = 'Asia/Shanghai';
const MONDAY = '2026-11-23';
const SECRET = 'overdue-reminders-secret-0123456789abcdef';
// The bridge starts on Sunday evening: the school's times are in its directory by Monday.
const clock = new TestClock(zonedInstant(addDays(MONDAY, -1), '20:00', ZONE));
const iso = (date: string, time: string) => new Date(zonedInstant(date, time, ZONE)).toISOString();

const valid = validAround(clock.now().getTime());
const pupil = sampleCard(1, { displayName: '王伟', class: '3-1', ...valid });
const { class: _none, ...teacher } = sampleCard(2, { displayName: 'Ms Chen', role: 'teacher', ...valid });

let dir: string;
let bridge: Bridge;
let receiver: WebhookReceiver;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'overdue-reminders-'));
  receiver = await WebhookReceiver.start(SECRET, () => clock.now().getTime());
  bridge = await startClockedBridge(dir, clock, {
    notices: {
      // The set clock stands still between rounds: a batch window of 0 lets each batch go at once.
      tickMs: 25,
      webhooks: [{ school: SCHOOL, url: receiver.url, secret: SECRET, overdueBooks: true, batchWindowMs: 0 }],
    },
  });
  expect(
    (await asAdmin(bridge.httpUrl, 'POST', `/v1/roster/${SCHOOL}/import`, { cards: [pupil, teacher] }))
      .status,
  ).toBe(200);
  bridge.directory.putSchool({
    id: SCHOOL,
    name: 'No. 1 Primary',
    times: { bellTime: '08:00', cutoffTime: '09:00', dismissalTime: '16:00' },
  });
  const items = [
    { itemId: 'B1', title: '西游记' },
    { itemId: 'B2', title: '红楼梦' },
  ];
  expect((await asAdmin(bridge.httpUrl, 'POST', `/v1/catalogue/${SCHOOL}/import`, { items })).status).toBe(
    200,
  );
  const lend = (loanId: string, itemId: string, personId: string, due: string) =>
    checkoutEvent(iso(addDays(MONDAY, -20), '10:00'), { loanId, itemId, personId, dueAt: due });
  bridge.store.commitRecords(
    'desk-1',
    SCHOOL,
    libraryRecords('desk-1', [
      lend('d:1', 'B1', pupil.personId, iso(addDays(MONDAY, -3), '23:59')),
      lend('d:2', 'B2', teacher.personId, iso(addDays(MONDAY, -3), '23:59')),
      lend('d:3', 'B3', pupil.personId, iso(addDays(MONDAY, 10), '23:59')),
      // Falls overdue at Monday's end: on Tuesday's reminder.
      lend('d:4', 'B4', pupil.personId, iso(MONDAY, '23:59')),
    ]),
  );
  // A gate at the school, so a lockdown can be ordered (below).
  enrollStoreGate(bridge, 'gate-1', SCHOOL, clock.now().getTime());
});
afterAll(async () => {
  await bridge?.stop();
  await receiver?.down();
  await rm(dir, { recursive: true, force: true });
});

describe("reminders of overdue books to a school's parents", () => {
  it('are a kind the webhook says it sends, and go after dismissal, signed, once, with the titles', async () => {
    const status = await asAdmin(bridge.httpUrl, 'GET', '/v1/notices/status');
    expect(status.body.webhooks).toEqual([expect.objectContaining({ sends: ['passages', 'overdue-books'] })]);
    // Before dismissal: rounds go by and nothing is sent.
    clock.advanceMinutes(19 * 60 + 58);
    const before = receiver.received.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.received.length).toBe(before);

    clock.advanceMinutes(2);
    await until(() => receiver.overdue.length > 0, { what: 'the reminder', timeoutMs: 10_000 });
    expect(receiver.badSignatures).toBe(0);
    expect(receiver.overdue).toEqual([
      {
        id: `o${MONDAY}:${pupil.personId}`,
        kind: 'overdue',
        school: SCHOOL,
        personId: pupil.personId,
        name: '王伟',
        class: '3-1',
        date: MONDAY,
        books: [{ itemId: 'B1', title: '西游记', dueDate: addDays(MONDAY, -3), daysOverdue: 3 }],
      },
    ]);
    await until(
      async () =>
        (
          (await asAdmin(bridge.httpUrl, 'GET', '/v1/notices/status')).body.webhooks as {
            delivered: number;
          }[]
        )[0]?.delivered === 1,
      { what: 'the delivery confirmed' },
    );

    // The librarian's list says so, beside each book the reminder listed (and its CSV, the day).
    const list = await asAdmin(bridge.httpUrl, 'GET', `/v1/library/${SCHOOL}/overdue`);
    const loans = list.body.loans as { itemId: string; parentsReminded?: unknown }[];
    expect(loans.map((loan) => [loan.itemId, loan.parentsReminded])).toEqual([
      ['B1', { date: MONDAY, at: clock.now().toISOString(), state: 'delivered' }],
      ['B2', undefined],
    ]);
    const csv = await fetch(`${bridge.httpUrl}/v1/library/${SCHOOL}/overdue.csv`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect((await csv.text()).split('\r\n')[1]).toMatch(new RegExp(`,${MONDAY}$`));

    const printed = await bridgeCli([
      ...['library', 'overdue', '--school', SCHOOL],
      ...['--url', bridge.httpUrl, '--admin-token', ADMIN_TOKEN],
    ]);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toMatch(/days late\s+parents told\n/);
    expect(printed.stdout).toMatch(new RegExp(`B1 .* 3\\s+delivered ${MONDAY}\\n`));

    // The rest of the evening: no second reminder.
    clock.advanceMinutes(90);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.overdue).toHaveLength(1);
  });

  it('wait while the school is in lockdown, and go once it is lifted', async () => {
    const tuesday = addDays(MONDAY, 1);
    const lockdown = (active: boolean) =>
      asAdmin(bridge.httpUrl, 'POST', `/v1/schools/${SCHOOL}/lockdown`, {
        active,
        ...(active ? { reason: 'drill' } : {}),
      });
    clock.advanceMinutes((zonedInstant(tuesday, '15:59', ZONE) - clock.now().getTime()) / 60_000);
    expect((await lockdown(true)).status).toBe(200);
    clock.advanceMinutes(2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.overdue).toHaveLength(1);

    expect((await lockdown(false)).status).toBe(200);
    clock.advanceMinutes(2);
    await until(() => receiver.overdue.length > 1, { what: "Tuesday's reminder", timeoutMs: 10_000 });
    // The book that fell overdue since Monday's reminder brings the next one at once, listing both.
    expect(receiver.overdue[1]).toMatchObject({
      date: tuesday,
      books: [
        { itemId: 'B1', daysOverdue: 4 },
        { itemId: 'B4', daysOverdue: 1 },
      ],
    });
  });
});
