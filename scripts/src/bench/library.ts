import type { Bridge } from '@educard/cloud-bridge';
import { type EventRecord, wallClock } from '@educard/terminal-sdk';
import {
  calendarWithSchoolToday,
  chainRecords,
  sampleCard,
  validAround,
} from '@educard/terminal-sdk/testing';
import { ADMIN, inProcessBridge } from './bridge-process.js';
import { atMost, type BenchResult, info, median, percentile } from './report.js';

const DAY = 86_400_000;
/** A school of 1,500 pupils in 30 classes lending from 8,000 copies, 30,000 loans a year. */
const PUPILS = 1500;
const CLASSES = 30;
const ITEMS = 8000;
const LOANS = 60_000;
/** The last loans lent, still out and past their due date: what the overdue list names. */
const OPEN = 1500;
const READS = 60;
/** Webhooks with the parents' reminders on, each told of every pupil: a round each at dismissal. */
const REMINDER_HOOKS = 20;
const ZONE = 'Asia/Shanghai';

type Body = Pick<EventRecord, 'type' | 'at' | 'data'>;

/**
 * Two years of one desk's lending, the real clock's: each loan of 21 days returned after 14, but the
 * last `OPEN`, lent a month ago and more. Ordered as the desk journaled them.
 */
function lending(people: string[], now: number): Body[] {
  const first = now - 730 * DAY;
  const span = 700 * DAY;
  const events: Body[] = [];
  for (let i = 0; i < LOANS; i++) {
    const at = first + (i / LOANS) * span;
    const data = {
      station: 'desk-1',
      source: 'local',
      loanId: `desk-1:${i}`,
      itemId: `B${i % ITEMS}`,
      personId: people[i % people.length] as string,
    };
    events.push({
      type: 'library.checkout',
      at: new Date(at).toISOString(),
      data: { ...data, dueAt: new Date(at + 21 * DAY).toISOString() },
    });
    if (i < LOANS - OPEN)
      events.push({ type: 'library.return', at: new Date(at + 14 * DAY).toISOString(), data });
  }
  return events.sort((a, b) => a.at.localeCompare(b.at));
}

/**
 * The reminders of overdue books at the school's dismissal (docs/notices.md), as the bridge's notices
 * run them on its event loop, one webhook's a round: the school's overdue list, who was told when, one
 * reminder a pupil queued in one transaction, and the round batching the webhook's before into
 * deliveries. Each round timed whole, in ms.
 */
function reminderRounds(bridge: Bridge): number[] {
  const told = () =>
    Number(bridge.store.database.prepare('SELECT count(*) FROM notice_overdue').pluck().get());
  const times: number[] = [];
  // The bridge's own timer may have run a round already (once a minute): only rounds that reminded count.
  for (let run = 0; run <= REMINDER_HOOKS && told() < REMINDER_HOOKS * OPEN; run++) {
    const before = told();
    const began = performance.now();
    bridge.notices.tick();
    const took = performance.now() - began;
    if (told() === before + OPEN) times.push(took);
  }
  if (told() !== REMINDER_HOOKS * OPEN) throw new Error(`${told()} reminders, not one a pupil a webhook`);
  return times;
}

/** Answer times of a GET, one request at a time, in ms. */
async function answerTimes(url: string, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const began = performance.now();
    const response = await fetch(url, { headers: { authorization: `Bearer ${ADMIN}` } });
    if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
    await response.arrayBuffer();
    times.push(performance.now() - began);
  }
  return times;
}

/**
 * The school library at the bridge (SQLite, in this process) after two years of lending: the overdue
 * list a Library page reads each minute, the school's and one class's (the whole ledger of returned
 * loans held by retention must not be read for it: the bridge answers ingest from the same thread),
 * then the retention purge's run that forgets the first year's loans and their events.
 */
export async function libraryBench(): Promise<BenchResult[]> {
  const { bridge, stop } = await inProcessBridge('library', {
    // The purge's run measured whole, not paced behind ingest that is not there.
    retention: { purgeShare: 1, purgeRate: null },
    // Rounds run by the bench; deliveries go nowhere (each is retried later, off the rounds).
    notices: {
      tickMs: 60_000,
      webhooks: Array.from({ length: REMINDER_HOOKS }, (_, i) => ({
        school: 'school-1',
        url: `http://127.0.0.1:9/school-1/${i}`,
        secret: 'bench-reminders-secret-0123456789abcdef',
        overdueBooks: true,
      })),
    },
  });
  try {
    const now = Date.now();
    const cards = Array.from({ length: PUPILS }, (_, i) =>
      sampleCard(i + 1, { displayName: `Pupil ${i}`, class: `${1 + (i % CLASSES)}A`, ...validAround(now) }),
    );
    // Today a school day whatever the weekday, and the school out this minute: the reminders are due.
    const calendar = calendarWithSchoolToday(ZONE, now);
    await bridge.roster.importRoster('school-1', { cards: cards.map((card) => ({ card })), calendar });
    const { hour, minute } = wallClock(now, ZONE);
    const dismissal = `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`;
    bridge.directory.putSchool({
      id: 'school-1',
      name: 'No. 1 Primary',
      times: { bellTime: '00:00', cutoffTime: '00:00', dismissalTime: dismissal },
    });
    const items = Array.from({ length: ITEMS }, (_, i) => ({ itemId: `B${i}`, title: `Title ${i}` }));
    await bridge.catalogue.importCatalogue('school-1', {
      items: items.map((item, i) => ({ line: i + 2, item })),
    });
    const events = lending(
      cards.map((card) => card.personId),
      now,
    );
    let start: { seq: number; hash: string } | undefined;
    for (let i = 0; i < events.length; i += 500) {
      const records = chainRecords('desk-1', events.slice(i, i + 500), start);
      bridge.store.commitRecords('desk-1', 'school-1', records);
      const last = records.at(-1) as EventRecord;
      start = { seq: last.seq, hash: last.hash };
    }
    const base = `${bridge.httpUrl}/v1/library/school-1/overdue`;
    await answerTimes(base, 3);
    const school = await answerTimes(base, READS);
    const oneClass = await answerTimes(`${base}?class=7A`, READS);
    const reminders = reminderRounds(bridge);

    const report = await bridge.retention.runOnce();
    if (report.loansForgotten === 0) throw new Error('the purge forgot no loan');
    return [
      atMost('library.overdue.list_ms', median(school), 'ms', 50),
      atMost('library.overdue.list_p99_ms', percentile(school, 99), 'ms', 200),
      atMost('library.overdue.class_list_ms', median(oneClass), 'ms', 50),
      atMost('library.reminders.school_ms', median(reminders), 'ms', 100),
      atMost('library.reminders.school_p99_ms', percentile(reminders, 99), 'ms', 250),
      info('library.reminders.pupils', OPEN, 'pupils'),
      info('library.ledger.loans', LOANS, 'loans'),
      atMost('library.retention.purge_s', report.durationMs / 1000, 's', 60),
      info('library.retention.loans_forgotten', report.loansForgotten, 'loans'),
      info('library.retention.events_removed', report.removed, 'events'),
    ];
  } finally {
    await stop();
  }
}
