import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CardEntry, EventRecord, StationTap, TerminalRequest } from '@educard/terminal-sdk';
import { sampleCard, TestAuthority } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Journal } from '../../journal/index.js';
import { createLogger } from '../../log/index.js';
import { PolicyConfig } from '../../policy/index.js';
import { RosterStore } from '../../roster/index.js';
import { LabConfig, type LabConfigInput, LabStation } from './index.js';

/** School-local (Asia/Shanghai, the sample calendar's zone) times on Monday 23 November 2026. */
const at = (local: string) => Date.parse(`2026-11-23T${local}:00+08:00`);
const ZONE = 'lab-1';

// Students of class 3 and class 5, teachers of class 3 and 4, a teacher with no class, staff.
const student = (n: number, overrides: Partial<CardEntry> = {}) =>
  sampleCard(n, { zones: [ZONE], schedules: [], class: '3', ...overrides });
const ann = student(1);
const bo = student(2);
const cy = student(3, { class: '5' });
const lost = student(4);
const teacher3 = student(10, { role: 'teacher', class: '3', displayName: 'Ms Zhao' });
const teacher4 = student(11, { role: 'teacher', class: '4' });
const classless = student(12, { role: 'teacher', class: undefined });
const caretaker = student(13, { role: 'staff', class: undefined });
const outsider = sampleCard(14, { zones: ['library'], schedules: [] });
const CLASS = Array.from({ length: 40 }, (_, i) => student(100 + i));
const EVERYONE = [ann, bo, cy, lost, teacher3, teacher4, classless, caretaker, outsider, ...CLASS];

const LESSONS = [
  { start: '08:00', end: '08:45' },
  { start: '09:00', end: '09:45' },
  { start: '10:00', end: '10:45' },
];

let dir: string;
let now: number;
let timers: (() => void)[];
let journal: Journal;
let roster: RosterStore;
let authority: TestAuthority;
let station: LabStation | undefined;
const lines: string[] = [];
const logger = createLogger('lab-test', {
  level: 'debug',
  destination: { write: (line: string) => lines.push(line) } as never,
});
const clock = { read: () => ({ now, trusted: true }), stamp: () => ({ clock: 'synced' as const }) };

async function openJournal() {
  await mkdir(join(dir, 'journal'), { recursive: true });
  journal = await Journal.open({ dir: join(dir, 'journal'), device: 'gw-1', logger, minFreeBytes: 0 });
}

async function startStation(config: Partial<LabConfigInput> = {}, people = true) {
  // The roster's current entry of a person's card (the runtime's lookup by person id plays this part).
  const cardOf = new Map(EVERYONE.map((card) => [card.personId, card.cardId]));
  const person = (personId: string) => {
    const cardId = cardOf.get(personId);
    return cardId === undefined ? undefined : roster.view?.byCardId(cardId);
  };
  const lab = new LabStation({
    config: LabConfig.parse({
      id: 'lab-a',
      zone: ZONE,
      debounceMs: 0,
      seats: [{ id: 'pc-01', reader: '^seat-01$' }, { id: 'pc-02', reader: '^seat-02$' }, { id: 'pc-03' }],
      limits: { student: 45, teacher: 120, staff: 120 },
      closing: '17:00',
      lessons: LESSONS,
      ...config,
    }),
    roster: () => roster.view,
    clock,
    journal,
    policy: PolicyConfig.parse({}),
    logger,
    now: () => now,
    ...(people ? { people: person } : {}),
    every: (_ms, task) => {
      const list = timers;
      list.push(task);
      return () => {
        list.splice(list.indexOf(task), 1);
      };
    },
  });
  await lab.start();
  station = lab;
  return lab;
}

const runTimers = () => {
  for (const task of timers) task();
};

function tap(lab: LabStation, card: CardEntry, reader = 'door'): StationTap {
  const outcome = lab.tap(
    { reader, uid: card.credential.uid as string, detectedAt: 0 },
    { name: reader, direction: 'none' },
  );
  if (!outcome?.terminal) throw new Error('the tap was taken for a repeat');
  return outcome.terminal;
}

let requests = 0;
function request(lab: LabStation, name: 'lab.signin' | 'lab.signout' | 'lab.seats', args: object = {}) {
  requests += 1;
  return lab.handle({ v: 1, id: `r${requests}`, terminal: 'kiosk-1', name, args } as TerminalRequest);
}

async function labEvents(): Promise<EventRecord[]> {
  await journal.flush();
  return (await journal.read(1, 10_000)).filter((record) => record.type.startsWith('lab.'));
}

const seatsOf = (lab: LabStation) =>
  Object.fromEntries(lab.view().seats.map((seat) => [seat.id, seat.personId ?? 'free']));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lab-'));
  now = at('08:10');
  timers = [];
  lines.length = 0;
  station = undefined;
  authority = new TestAuthority('school-1');
  await RosterStore.writeAnchor(dir, authority.anchor());
  roster = await RosterStore.open({ dir, school: 'school-1', device: 'gw-1', logger, now: () => now });
  await roster.acceptKeySet(authority.keySet());
  const issued = authority.snapshot(1, EVERYONE, {
    issuedAt: '2026-11-01T00:00:00Z',
    expiresAt: '2027-01-31T00:00:00Z',
  });
  await roster.accept(issued.manifest, issued.body);
  const revoked = authority.delta(1, 2, [{ op: 'revoke', cardId: lost.cardId, status: 'lost' }], {
    issuedAt: '2026-11-02T00:00:00Z',
    expiresAt: '2027-01-31T00:00:00Z',
  });
  await roster.accept(revoked.manifest, revoked.body);
  await openJournal();
});

afterEach(async () => {
  await station?.stop();
  await journal.close();
  await rm(dir, { recursive: true, force: true });
});

describe('lab configuration', () => {
  it('fills defaults and reports every problem at once', () => {
    const config = LabConfig.parse({ id: 'lab-a', zone: ZONE, seats: [{ id: 'pc-01' }] });
    expect(config).toMatchObject({
      debounceMs: 3000,
      limits: { student: 90, teacher: 240, staff: 240 },
      closing: '18:00',
      lessons: [],
      checkEveryMs: 5000,
    });
    const bad = LabConfig.safeParse({
      id: 'lab-a',
      zone: ZONE,
      seats: [{ id: 'pc-01', reader: '([' }, { id: 'pc-01' }],
      closing: '25:00',
      lessons: [
        { start: '09:00', end: '09:45' },
        { start: '09:30', end: '10:15' },
        { start: '11:00', end: '10:00' },
      ],
    });
    expect(bad.success).toBe(false);
    const paths = bad.error?.issues.map((issue) => issue.path.join('.'));
    expect(paths).toEqual(
      expect.arrayContaining(['seats.0.reader', 'closing', 'lessons.2', 'seats.1.id', 'lessons']),
    );
  });
});

describe('the computer room', () => {
  it('signs a student in at the door to the first free seat, and out with a second tap', async () => {
    const lab = await startStation();
    const seen: number[] = [];
    lab.onViewChange(() => seen.push(lab.view().seats.filter((s) => s.state === 'taken').length));

    const first = tap(lab, ann);
    expect(first).toMatchObject({
      station: 'lab-a',
      kind: 'lab',
      decision: 'grant',
      reason: 'ok',
      card: `******${ann.cardId.slice(-4)}`,
      patron: { personId: ann.personId, role: 'student', class: '3' },
      detail: { action: 'signin', seat: 'pc-01', minutesLeft: 45, limitMinutes: 45 },
    });
    expect(tap(lab, bo).detail).toMatchObject({ action: 'signin', seat: 'pc-02' });
    expect(lab.view().seats[0]).toMatchObject({
      id: 'pc-01',
      state: 'taken',
      personId: ann.personId,
      displayName: ann.displayName,
      class: '3',
      since: new Date(at('08:10')).toISOString(),
      minutesLeft: 45,
    });

    now = at('08:30');
    expect(tap(lab, ann).detail).toMatchObject({
      action: 'signout',
      seat: 'pc-01',
      minutes: 20,
      reason: 'tap',
    });
    expect(seatsOf(lab)).toEqual({ 'pc-01': 'free', 'pc-02': bo.personId, 'pc-03': 'free' });
    expect(seen).toEqual([1, 2, 1]);

    const events = await labEvents();
    expect(events.map((e) => [e.type, e.data.seat, e.data.personId])).toEqual([
      ['lab.signin', 'pc-01', ann.personId],
      ['lab.signin', 'pc-02', bo.personId],
      ['lab.signout', 'pc-01', ann.personId],
    ]);
    expect(events[0]?.data).toMatchObject({ station: 'lab-a', cardId: ann.cardId, limitMinutes: 45 });
    expect(events[2]?.data).toMatchObject({
      sessionId: events[0]?.data.sessionId,
      minutes: 20,
      reason: 'tap',
    });
  });

  it('takes a repeat of the same card on the same reader within the debounce for one tap', async () => {
    const lab = await startStation({ debounceMs: 3000 });
    now = at('08:10');
    expect(tap(lab, ann).detail).toMatchObject({ action: 'signin' });
    now += 1000;
    expect(
      lab.tap(
        { reader: 'door', uid: ann.credential.uid as string, detectedAt: 0 },
        { name: 'door', direction: 'none' },
      ),
    ).toBeUndefined();
    now += 5000;
    expect(tap(lab, ann).detail).toMatchObject({ action: 'signout' });
  });

  it("signs in at a seat's own reader to that seat, and only that seat's reader or the door signs out", async () => {
    const lab = await startStation({ doorReaders: ['^door$'] });
    expect(tap(lab, ann, 'seat-02').detail).toMatchObject({ action: 'signin', seat: 'pc-02' });
    const elsewhere = tap(lab, ann, 'seat-01');
    expect(elsewhere).toMatchObject({
      decision: 'deny',
      reason: 'signed-in-elsewhere',
      detail: { seat: 'pc-02' },
    });
    expect(tap(lab, bo, 'seat-02')).toMatchObject({ decision: 'deny', reason: 'seat-taken' });
    expect(tap(lab, bo).detail).toMatchObject({ action: 'signin', seat: 'pc-01' });
    expect(tap(lab, ann, 'seat-02').detail).toMatchObject({
      action: 'signout',
      seat: 'pc-02',
      reason: 'tap',
    });
    expect(
      lab.tap(
        { reader: 'x', uid: ann.credential.uid as string, detectedAt: 0 },
        { name: 'hall-reader', direction: 'none' },
      ),
    ).toBeUndefined();
    expect((await labEvents()).map((e) => e.type)).toEqual(['lab.signin', 'lab.signin', 'lab.signout']);
  });

  it('lets a terminal choose the seat, refuses a taken one, and answers a repeated transaction once', async () => {
    const lab = await startStation();
    const chosen = await request(lab, 'lab.signin', {
      personId: ann.personId,
      seat: 'pc-03',
      txn: 'txn-ann-0001',
    });
    expect(chosen).toMatchObject({
      status: 'ok',
      data: { action: 'signin', seat: 'pc-03', minutesLeft: 45 },
    });
    const again = await request(lab, 'lab.signin', {
      personId: ann.personId,
      seat: 'pc-03',
      txn: 'txn-ann-0001',
    });
    expect(again).toEqual(chosen);

    const taken = await request(lab, 'lab.signin', {
      personId: bo.personId,
      seat: 'pc-03',
      txn: 'txn-bo-00001',
    });
    expect(taken).toMatchObject({ status: 'refused', reason: 'seat-taken', data: { seat: 'pc-03' } });
    expect(await request(lab, 'lab.signin', { personId: bo.personId, txn: 'txn-bo-00002' })).toMatchObject({
      status: 'ok',
      data: { seat: 'pc-01' },
    });
    expect(await request(lab, 'lab.signin', { personId: 'p9999999', txn: 'txn-who-0001' })).toMatchObject({
      status: 'refused',
      reason: 'unknown-person',
    });

    now = at('08:40');
    const out = await request(lab, 'lab.signout', { personId: ann.personId, txn: 'txn-ann-0002' });
    expect(out).toMatchObject({
      status: 'ok',
      data: { action: 'signout', seat: 'pc-03', minutes: 30, reason: 'terminal' },
    });
    expect(await request(lab, 'lab.signout', { personId: ann.personId, txn: 'txn-ann-0002' })).toEqual(out);
    expect(await request(lab, 'lab.signout', { personId: ann.personId, txn: 'txn-ann-0003' })).toMatchObject({
      status: 'refused',
      reason: 'not-signed-in',
    });
    expect(await request(lab, 'lab.seats')).toMatchObject({
      status: 'ok',
      data: { closing: '17:00', open: true },
    });

    const events = await labEvents();
    expect(events.map((e) => [e.type, e.data.personId, e.data.seat])).toEqual([
      ['lab.signin', ann.personId, 'pc-03'],
      ['lab.signin', bo.personId, 'pc-01'],
      ['lab.signout', ann.personId, 'pc-03'],
    ]);
    expect(events[0]?.data.sessionId).toBe('txn:txn-ann-0001');
  });

  it('names a person for a terminal only when it knows their card: from the roster lookup, or a tap here', async () => {
    const lab = await startStation({}, false);
    expect(await request(lab, 'lab.signin', { personId: ann.personId, txn: 'txn-ann-0001' })).toMatchObject({
      status: 'refused',
      reason: 'unknown-person',
    });
    tap(lab, ann);
    tap(lab, ann);
    expect(
      await request(lab, 'lab.signin', { personId: ann.personId, seat: 'pc-02', txn: 'txn-ann-0002' }),
    ).toMatchObject({
      status: 'ok',
      data: { seat: 'pc-02' },
    });
  });

  it('denies a student at the door when every seat is taken', async () => {
    const lab = await startStation();
    for (const card of [ann, bo, cy]) expect(tap(lab, card).decision).toBe('grant');
    const full = tap(lab, CLASS[0] as CardEntry);
    expect(full).toMatchObject({ decision: 'deny', reason: 'room-full', detail: { action: 'denied' } });
    expect(
      await request(lab, 'lab.signin', { personId: CLASS[1]?.personId, txn: 'txn-full-001' }),
    ).toMatchObject({
      status: 'refused',
      reason: 'room-full',
    });
    expect(await labEvents()).toHaveLength(3);
  });

  it('denies a lost card, and a card without the lab zone, journaling nothing', async () => {
    const lab = await startStation();
    expect(tap(lab, lost)).toMatchObject({
      decision: 'deny',
      reason: 'lost',
      patron: { cardStatus: 'lost' },
    });
    expect(tap(lab, outsider)).toMatchObject({ decision: 'deny', reason: 'not-in-zone' });
    expect(await request(lab, 'lab.signin', { personId: lost.personId, txn: 'txn-lost-001' })).toMatchObject({
      status: 'refused',
      reason: 'lost',
    });
    expect(seatsOf(lab)).toEqual({ 'pc-01': 'free', 'pc-02': 'free', 'pc-03': 'free' });
    expect(await labEvents()).toEqual([]);
  });

  it('lets a genuine card that may no longer be used here still sign its person out, and nothing more', async () => {
    const lab = await startStation();
    tap(lab, ann);
    const moved = authority.delta(2, 3, [{ op: 'update', card: { ...ann, zones: ['library'] } }], {
      issuedAt: '2026-11-03T00:00:00Z',
      expiresAt: '2027-01-31T00:00:00Z',
    });
    await roster.accept(moved.manifest, moved.body);
    expect(tap(lab, ann)).toMatchObject({
      decision: 'grant',
      detail: { action: 'signout', reason: 'tap', cardReason: 'not-in-zone' },
    });
    expect(tap(lab, ann)).toMatchObject({ decision: 'deny', reason: 'not-in-zone' });
    expect((await labEvents()).map((e) => e.type)).toEqual(['lab.signin', 'lab.signout']);
  });

  it('signs a session out at its role’s limit, with reason limit, on the next check', async () => {
    const lab = await startStation();
    tap(lab, ann);
    tap(lab, caretaker);
    now = at('08:40');
    runTimers();
    expect(lab.view().seats[0]?.minutesLeft).toBe(15);
    now = at('08:55') + 4000;
    runTimers();
    expect(seatsOf(lab)).toEqual({ 'pc-01': 'free', 'pc-02': caretaker.personId, 'pc-03': 'free' });
    const events = await labEvents();
    expect(events.at(-1)).toMatchObject({
      type: 'lab.signout',
      at: new Date(now).toISOString(),
      data: { personId: ann.personId, seat: 'pc-01', minutes: 45, reason: 'limit' },
    });
    runTimers();
    expect(await labEvents()).toHaveLength(3);
  });

  it('ends the session and the booking of people who moved to another school, on the next check', async () => {
    const lab = await startStation();
    now = at('08:50');
    expect(tap(lab, teacher4).detail).toMatchObject({ action: 'booking', class: '4' });
    tap(lab, ann);
    tap(lab, caretaker);
    now = at('08:52');
    const moved = authority.delta(
      2,
      3,
      [ann, teacher4].map((card) => ({
        op: 'update' as const,
        card: { ...card, status: 'cancelled' as const, statusReason: 'transferred' as const },
      })),
      { issuedAt: '2026-11-23T00:00:00Z', expiresAt: '2027-01-31T00:00:00Z' },
    );
    await roster.accept(moved.manifest, moved.body);
    runTimers();
    expect(seatsOf(lab)).toEqual({ 'pc-01': 'free', 'pc-02': caretaker.personId, 'pc-03': 'free' });
    expect(lab.view().booking).toBeUndefined();
    const events = await labEvents();
    expect(events.slice(-2).map((e) => [e.type, e.data.personId ?? e.data.teacherPersonId])).toEqual([
      ['lab.signout', ann.personId],
      ['lab.booking', teacher4.personId],
    ]);
    expect(events.at(-2)?.data).toMatchObject({ reason: 'transferred', minutes: 2 });
    // The booking was still to come: cancelled, its end at its start.
    expect(events.at(-1)?.data).toMatchObject({ from: new Date(at('09:00')).toISOString() });
    expect(events.at(-1)?.data.until).toBe(events.at(-1)?.data.from);
    expect(tap(lab, ann)).toMatchObject({ decision: 'deny', reason: 'transferred' });
    runTimers();
    expect(await labEvents()).toHaveLength(events.length);
  });

  it('signs everyone out at closing time, each with an event, and refuses sign-ins until midnight', async () => {
    const lab = await startStation({ limits: { student: 600, teacher: 600, staff: 600 } });
    now = at('15:50');
    tap(lab, ann);
    tap(lab, bo, 'seat-02');
    tap(lab, caretaker);
    expect(lab.view().seats.map((s) => s.minutesLeft)).toEqual([70, 70, 70]);
    let changes = 0;
    lab.onViewChange(() => {
      changes += 1;
    });

    now = at('17:00') + 2000;
    runTimers();
    expect(changes).toBe(1);
    expect(lab.view()).toMatchObject({ open: false, closing: '17:00' });
    expect(seatsOf(lab)).toEqual({ 'pc-01': 'free', 'pc-02': 'free', 'pc-03': 'free' });
    const closing = (await labEvents()).filter((e) => e.type === 'lab.signout');
    expect(closing.map((e) => [e.data.personId, e.data.reason, e.data.minutes])).toEqual([
      [ann.personId, 'closing', 70],
      [bo.personId, 'closing', 70],
      [caretaker.personId, 'closing', 70],
    ]);

    now = at('19:30');
    expect(tap(lab, ann)).toMatchObject({ decision: 'deny', reason: 'closed' });
    expect(await request(lab, 'lab.signin', { personId: bo.personId, txn: 'txn-late-001' })).toMatchObject({
      status: 'refused',
      reason: 'closed',
    });
    now = Date.parse('2026-11-24T07:45:00+08:00');
    expect(lab.view().open).toBe(true);
    expect(tap(lab, ann)).toMatchObject({ decision: 'grant', detail: { action: 'signin' } });
  });

  it('books the room for a teacher’s class: only that class signs in during the lesson', async () => {
    const lab = await startStation();
    now = at('09:05');
    const booked = tap(lab, teacher3);
    expect(booked).toMatchObject({
      decision: 'grant',
      detail: { action: 'booking', class: '3', until: new Date(at('09:45')).toISOString() },
    });
    expect(lab.view().booking).toMatchObject({ class: '3', teacher: 'Ms Zhao', inForce: true });

    const other = tap(lab, cy);
    expect(other).toMatchObject({ decision: 'deny', reason: 'room-booked', detail: { class: '3' } });
    expect(await request(lab, 'lab.signin', { personId: cy.personId, txn: 'txn-cy-00001' })).toMatchObject({
      status: 'refused',
      reason: 'room-booked',
      data: { class: '3' },
    });
    expect(tap(lab, ann)).toMatchObject({
      decision: 'grant',
      detail: { action: 'signin', bookedClass: '3' },
    });
    expect(tap(lab, teacher4)).toMatchObject({
      decision: 'deny',
      reason: 'room-booked',
      detail: { class: '3' },
    });
    expect(tap(lab, caretaker).detail).toMatchObject({ action: 'signin' });

    now = at('09:46');
    expect(lab.view().booking).toBeUndefined();
    expect(tap(lab, cy).detail).toMatchObject({ action: 'signin', seat: 'pc-03' });

    const events = await labEvents();
    expect(events[0]).toMatchObject({
      type: 'lab.booking',
      data: {
        station: 'lab-a',
        teacherPersonId: teacher3.personId,
        class: '3',
        from: new Date(at('09:05')).toISOString(),
        until: new Date(at('09:45')).toISOString(),
      },
    });
    expect(events[1]).toMatchObject({
      type: 'lab.signin',
      data: { personId: ann.personId, bookedClass: '3' },
    });
  });

  it('books the next lesson between lessons, ends a booking at the teacher’s second tap, refuses a teacher with no class', async () => {
    const lab = await startStation();
    now = at('08:50');
    expect(tap(lab, classless)).toMatchObject({ decision: 'deny', reason: 'no-class' });
    expect(tap(lab, teacher4).detail).toMatchObject({
      action: 'booking',
      class: '4',
      from: new Date(at('09:00')).toISOString(),
    });
    expect(lab.view().booking).toMatchObject({ class: '4', inForce: false });
    expect(tap(lab, ann).detail).toMatchObject({ action: 'signin' });

    now = at('09:20');
    expect(tap(lab, bo)).toMatchObject({ decision: 'deny', reason: 'room-booked' });
    expect(tap(lab, teacher4).detail).toMatchObject({
      action: 'booking-ended',
      until: new Date(at('09:20')).toISOString(),
    });
    expect(tap(lab, bo).detail).toMatchObject({ action: 'signin' });

    now = at('11:00');
    expect(tap(lab, teacher3)).toMatchObject({ decision: 'deny', reason: 'no-lesson' });
    const bookings = (await labEvents()).filter((e) => e.type === 'lab.booking');
    expect(bookings).toHaveLength(2);
    expect(bookings[1]?.data.bookingId).toBe(bookings[0]?.data.bookingId);
  });

  it('rebuilds who sits where, the booking and the replies to terminals from the journal after a restart', async () => {
    let lab = await startStation();
    now = at('09:05');
    tap(lab, teacher3);
    tap(lab, ann);
    const reply = await request(lab, 'lab.signin', {
      personId: bo.personId,
      seat: 'pc-03',
      txn: 'txn-bo-00001',
    });
    await lab.stop();
    await journal.close();

    now = at('09:15');
    await openJournal();
    timers = [];
    lab = await startStation();
    expect(seatsOf(lab)).toEqual({ 'pc-01': ann.personId, 'pc-02': 'free', 'pc-03': bo.personId });
    expect(lab.view().seats[0]).toMatchObject({ displayName: ann.displayName, minutesLeft: 35 });
    expect(lab.view().booking).toMatchObject({ class: '3', teacher: 'Ms Zhao', inForce: true });
    expect(
      await request(lab, 'lab.signin', { personId: bo.personId, seat: 'pc-03', txn: 'txn-bo-00001' }),
    ).toEqual(reply);
    expect(tap(lab, cy)).toMatchObject({ decision: 'deny', reason: 'room-booked' });

    expect(tap(lab, ann).detail).toMatchObject({ action: 'signout', minutes: 10 });
    const events = await labEvents();
    expect(events.map((e) => e.type)).toEqual(['lab.booking', 'lab.signin', 'lab.signin', 'lab.signout']);
    expect(events[3]?.data.sessionId).toBe(events[1]?.data.sessionId);
  });

  it('at start, ends with reason closing the sessions a gateway down over closing time left open', async () => {
    let lab = await startStation({ limits: { student: 600, teacher: 600, staff: 600 } });
    now = at('16:00');
    tap(lab, ann);
    await lab.stop();
    await journal.close();

    now = Date.parse('2026-11-24T07:30:00+08:00');
    await openJournal();
    timers = [];
    lab = await startStation({ limits: { student: 600, teacher: 600, staff: 600 } });
    expect(seatsOf(lab)).toEqual({ 'pc-01': 'free', 'pc-02': 'free', 'pc-03': 'free' });
    expect((await labEvents()).at(-1)).toMatchObject({
      type: 'lab.signout',
      data: { personId: ann.personId, reason: 'closing', minutes: 60 },
    });
    expect(tap(lab, ann).detail).toMatchObject({ action: 'signin' });
  });

  it('seats a class of 40 tapping in at the door one after another, then refuses the 41st', async () => {
    const seats = Array.from({ length: 40 }, (_, i) => ({ id: `pc-${String(i + 1).padStart(2, '0')}` }));
    const lab = await startStation({ seats });
    now = at('09:01');
    tap(lab, teacher3);
    for (const [i, card] of CLASS.entries()) {
      now += 1000;
      expect(tap(lab, card)).toMatchObject({
        decision: 'grant',
        detail: { seat: seats[i]?.id, bookedClass: '3' },
      });
    }
    expect(tap(lab, ann)).toMatchObject({ decision: 'deny', reason: 'room-full' });
    expect(lab.view().seats.every((seat) => seat.state === 'taken')).toBe(true);
    expect(await labEvents()).toHaveLength(41);
  });
});
