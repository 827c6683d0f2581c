import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Attendance, addDays, Directory, openSqliteStore, zonedInstant } from '@educard/cloud-bridge';
import type { EventRecord } from '@educard/terminal-sdk';
import { chainRecords, gateDecisionData, type RecordBody } from '@educard/terminal-sdk/testing';
import { atMost, type BenchResult, info, median, percentile } from './report.js';

const SCHOOL = 'bench-school';
const DATE = '2026-11-23';
const TERM_START = '2026-09-01';
const ZONE = 'Asia/Shanghai';
const PUPILS = 3000;
const CLASSES = 60;
const EVENTS = 20_000;
const GATES = 8;
const RUNS = 60;
const TARGET_MS = 200;

/** A repeatable pseudo-random sequence, so every run builds the same school. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

const at = (clock: string, jitterMs: number) =>
  new Date(zonedInstant(DATE, clock, ZONE) + jitterMs).toISOString();

interface Tap {
  personId: string;
  at: string;
  direction: 'in' | 'out';
  /** A refused entry (an expired card): the pupil is turned away. */
  refused?: true;
}

/**
 * 20,000 gate decisions of one day: most pupils come in around the bell (some late, some twice), about
 * 4 % never come (half of them refused at the gate), 1 % are refused once before they are let in, lunch
 * exits and returns, dismissal exits, and a few leave early.
 */
function passages(): Tap[] {
  const next = random(7);
  const all: Tap[] = [];
  const came: string[] = [];
  const minutes = (n: number) => Math.floor(n * 60_000);
  for (let p = 0; p < PUPILS && all.length < EVENTS; p++) {
    const personId = `p${p}`;
    if (next() < 0.04) {
      if (next() < 0.5)
        all.push({ personId, direction: 'in', at: at('07:30', minutes(next() * 30)), refused: true });
      continue;
    }
    came.push(personId);
    if (next() < 0.01)
      all.push({ personId, direction: 'in', at: at('07:10', minutes(next() * 10)), refused: true });
    const late = next() < 0.06;
    all.push({ personId, direction: 'in', at: at(late ? '08:00' : '07:20', minutes(next() * 40)) });
    if (next() < 0.2) all.push({ personId, direction: 'in', at: at('07:20', minutes(next() * 50)) });
    if (next() < 0.5) {
      all.push({ personId, direction: 'out', at: at('11:50', minutes(next() * 10)) });
      all.push({ personId, direction: 'in', at: at('12:40', minutes(next() * 15)) });
    }
    all.push({ personId, direction: 'out', at: at(next() < 0.03 ? '14:00' : '16:30', minutes(next() * 40)) });
  }
  // The rest: afternoon trips out and back (sports ground, clinic) of pupils who came.
  for (let n = 0; all.length < EVENTS; n++) {
    const personId = came[Math.floor(n / 2) % came.length] as string;
    all.push({
      personId,
      direction: n % 2 ? 'in' : 'out',
      at: at('13:30', minutes((n % 2) * 5 + (n % 150))),
    });
  }
  return all.sort((a, b) => (a.at < b.at ? -1 : 1));
}

/** The day's passages as each gate's chained journal records, and the caretaker's of the weeks before. */
function gateRecords(): Map<string, EventRecord[]> {
  const byGate = new Map<string, RecordBody[]>();
  passages().forEach((passage, index) => {
    const device = `gate-${index % GATES}`;
    const bodies = byGate.get(device) ?? [];
    bodies.push({
      type: 'gate.decision',
      at: passage.at,
      data: gateDecisionData({
        personId: passage.personId,
        direction: passage.direction,
        ...(passage.refused ? { decision: 'deny', reason: 'expired' } : {}),
      }),
    });
    byGate.set(device, bodies);
  });
  const byDevice = new Map([...byGate].map(([device, bodies]) => [device, chainRecords(device, bodies)]));
  // The caretaker opens the school every weekday morning of the eight weeks before: the trend counts a
  // day only when the gates recorded someone (the days before carry no pupil's passage, as before).
  const mornings: RecordBody[] = [];
  for (let back = 56; back >= 1; back--) {
    const date = addDays(DATE, -back);
    if ([0, 6].includes(new Date(`${date}T12:00:00Z`).getUTCDay())) continue;
    mornings.push({
      type: 'gate.decision',
      at: new Date(zonedInstant(date, '06:30', ZONE)).toISOString(),
      data: gateDecisionData({ personId: 'caretaker', role: 'staff', direction: 'in' }),
    });
  }
  return byDevice.set('gate-staff', chainRecords('gate-staff', mornings));
}

/**
 * `central.attendance.day_ms`: one day of a 3,000-pupil school in 60 classes from 20,000 gate events
 * (passages and refused entries).
 */
export async function centralAttendanceBench(): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-attendance-'));
  const store = openSqliteStore(join(dir, 'bridge.db'));
  try {
    // The pupils were enrolled at the start of term: the eight weeks of the trend count them all.
    const directory = new Directory(store.database, () => zonedInstant(TERM_START, '07:00', ZONE));
    // After the school day: every rule (late, absent, left early) is in play.
    const now = zonedInstant(DATE, '18:00', ZONE);
    const attendance = new Attendance({ store, directory, defaultTimeZone: ZONE, now: () => now });
    store.database.transaction(() => {
      directory.putSchool({
        id: SCHOOL,
        name: 'Bench School',
        times: { bellTime: '08:00', cutoffTime: '09:30', dismissalTime: '16:30' },
      });
      for (let c = 0; c < CLASSES; c++)
        directory.putClass({ school: SCHOOL, id: `c${c}`, name: `Class ${c}`, grade: String(1 + (c % 6)) });
      for (let p = 0; p < PUPILS; p++)
        directory.putPerson({
          id: `p${p}`,
          school: SCHOOL,
          role: 'student',
          name: `学生${p}`,
          class: `c${p % CLASSES}`,
          active: true,
        });
      directory.putLeave({
        id: 'leave-1',
        personId: 'p1',
        school: SCHOOL,
        from: DATE,
        to: DATE,
        kind: 'sick',
        cancelled: false,
      });
    })();
    for (const [device, records] of gateRecords())
      for (let i = 0; i < records.length; i += 500)
        store.commitRecords(device, SCHOOL, records.slice(i, i + 500));

    const first = attendance.attendanceDay(SCHOOL, DATE);
    if (first.totals.pupils !== PUPILS || first.classes.length !== CLASSES)
      throw new Error(`bench school built wrong: ${JSON.stringify(first.totals)}`);
    const samples: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const started = performance.now();
      attendance.attendanceDay(SCHOOL, DATE);
      samples.push(performance.now() - started);
    }
    // The trend page: eight weeks, day by day (36 school days here), for comparison.
    const trend: number[] = [];
    for (let run = 0; run < 3; run++) {
      const started = performance.now();
      attendance.attendanceTrend(SCHOOL, { weeks: 8 });
      trend.push(performance.now() - started);
    }
    // Pupils absent several days running: the 120 absent on the day were away on every day before, so
    // each run is followed back the whole twelve weeks.
    const absences: number[] = [];
    for (let run = 0; run < 3; run++) {
      const started = performance.now();
      attendance.consecutiveAbsences(SCHOOL);
      absences.push(performance.now() - started);
    }
    const events = (
      store.database.prepare('SELECT count(*) AS n FROM gate_passages WHERE school = ?').get(SCHOOL) as {
        n: number;
      }
    ).n;
    return [
      atMost('central.attendance.day_ms', median(samples), 'ms', TARGET_MS),
      atMost('central.attendance.day_p99_ms', percentile(samples, 99), 'ms', TARGET_MS),
      info('central.attendance.trend_8w_ms', median(trend), 'ms'),
      info('central.attendance.consecutive_absences_ms', median(absences), 'ms'),
      info('central.attendance.day_events', events, 'passages'),
      info('central.attendance.day_absent', first.totals.absent, 'pupils'),
      info('central.attendance.day_turned_away', first.totals.turnedAway, 'pupils'),
    ];
  } finally {
    store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
