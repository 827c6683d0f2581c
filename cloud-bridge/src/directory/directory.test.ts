import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type BridgeStore, migrateModule } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { DIRECTORY_STEPS, Directory, type DirectoryPerson } from './index.js';

// Runs on SQLite and on PostgreSQL (vitest.config.ts).
let dir: string;
let store: BridgeStore;
let directory: Directory;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'directory-'));
  store = openTestStore(join(dir, 'bridge.db'));
  directory = new Directory(store.database);
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const pupil = (id: string, fields: Partial<DirectoryPerson> = {}): DirectoryPerson => ({
  id,
  school: 'school-1',
  role: 'student',
  name: `Pupil ${id}`,
  active: true,
  ...fields,
});

it('keeps schools, classes and people, replaced whole on a second put and listed by id byte by byte', () => {
  const times = { bellTime: '08:00', cutoffTime: '09:30', dismissalTime: '16:30' };
  directory.putSchool({ id: 'school-b', name: 'B', times });
  directory.putSchool({ id: 'School-a', name: 'A', times });
  directory.putSchool({ id: 'school-b', name: 'B renamed', times });
  expect(directory.schools().map((s) => [s.id, s.name])).toEqual([
    ['School-a', 'A'],
    ['school-b', 'B renamed'],
  ]);
  directory.putClass({ school: 'school-1', id: '7-2', name: 'Seven two' });
  directory.putClass({ school: 'school-1', id: '7-1', name: 'Seven one', bellTime: '08:30' });
  expect(directory.classes('school-1').map((c) => c.id)).toEqual(['7-1', '7-2']);
  expect(directory.class('school-1', '7-1')).toMatchObject({ bellTime: '08:30' });
  expect(directory.class('school-2', '7-1')).toBeUndefined();

  // Upper case before lower, as SQLite and the C collation order them.
  for (const id of ['p-b', 'P-c', 'p-a']) directory.putPerson(pupil(id, { class: '7-1' }));
  directory.putPerson(pupil('p-d', { class: '7-2', studentNumber: 'G11010120100101123X' }));
  expect(directory.persons('school-1').map((p) => p.id)).toEqual(['P-c', 'p-a', 'p-b', 'p-d']);
  expect(directory.persons('school-1', '7-2').map((p) => p.id)).toEqual(['p-d']);
  expect(directory.personByStudentNumber('G11010120100101123X')?.id).toBe('p-d');
  directory.putPerson(pupil('p-d', { class: '7-1', studentNumber: 'G11010120100101123X', active: false }));
  expect(directory.persons('school-1', '7-2')).toEqual([]);
  expect(directory.person('p-d')).toMatchObject({ class: '7-1', active: false });
  // One student-status number belongs to one person.
  expect(() => directory.putPerson(pupil('p-e', { studentNumber: 'G11010120100101123X' }))).toThrow(
    /unique/i,
  );
  expect(directory.person('p-e')).toBeUndefined();
  expect(directory.anonymisePerson('p-d', 'anon-d')).toBe(1);
  expect(directory.anonymisePerson('p-d', 'anon-d')).toBe(0);
  expect(directory.personByStudentNumber('G11010120100101123X')).toBeUndefined();
  expect(directory.person('anon-d')).toEqual({
    id: 'anon-d',
    school: 'school-1',
    role: 'student',
    name: 'anon-d',
    class: '7-1',
    active: false,
  });
});

it('keeps an anonymised leaver’s enrolment and leaves under their pseudonym', () => {
  let now = Date.parse('2026-09-01T00:00:00.000Z');
  const dated = new Directory(store.database, () => now);
  dated.putPerson(pupil('p1', { class: '7-1', studentNumber: 'G110101201001011234' }));
  dated.putLeave({
    id: 'l1',
    personId: 'p1',
    school: 'school-1',
    from: '2026-10-08',
    to: '2026-10-09',
    kind: 'sick',
    cancelled: false,
  });
  now = Date.parse('2026-11-02T00:00:00.000Z');
  dated.putPerson(pupil('p1', { class: '7-1', studentNumber: 'G110101201001011234', active: false }));
  now = Date.parse('2027-11-02T00:00:00.000Z');
  expect(dated.anonymisePerson('p1', 'anon-1')).toBe(2);
  expect(dated.enrolments('school-1')).toEqual([
    {
      person: {
        id: 'anon-1',
        school: 'school-1',
        role: 'student',
        name: 'anon-1',
        class: '7-1',
        active: false,
      },
      joinedAt: '2026-09-01T00:00:00.000Z',
      leftAt: '2026-11-02T00:00:00.000Z',
    },
  ]);
  expect(dated.leaves('school-1', '2026-10-01', '2026-10-31')).toEqual([
    {
      id: 'l1',
      personId: 'anon-1',
      school: 'school-1',
      from: '2026-10-08',
      to: '2026-10-09',
      kind: 'sick',
      cancelled: false,
    },
  ]);
  // Leaves of a person the directory holds no record of (a roster-only pupil) move too.
  dated.putLeave({
    id: 'l2',
    personId: 'p2',
    school: 'school-1',
    from: '2026-10-12',
    to: '2026-10-12',
    kind: 'personal',
    cancelled: false,
  });
  expect(dated.anonymisePerson('p2', 'anon-2')).toBe(1);
  expect(dated.leavesOf('p2')).toEqual([]);
  expect(dated.leavesOf('anon-2')).toMatchObject([{ id: 'l2', personId: 'anon-2' }]);
});

it('finds the leaves that overlap a span of dates, ends included', () => {
  const leave = (id: string, from: string, to: string) =>
    directory.putLeave({ id, personId: 'p1', school: 'school-1', from, to, kind: 'sick', cancelled: false });
  leave('l1', '2026-11-02', '2026-11-04');
  leave('l2', '2026-11-04', '2026-11-10');
  leave('l3', '2026-11-11', '2026-11-11');
  directory.putLeave({
    id: 'l4',
    personId: 'p2',
    school: 'school-2',
    from: '2026-11-01',
    to: '2026-11-30',
    kind: 'personal',
    cancelled: false,
  });
  const ids = (from: string, to: string) => directory.leaves('school-1', from, to).map((l) => l.id);
  expect(ids('2026-11-04', '2026-11-04')).toEqual(['l1', 'l2']);
  expect(ids('2026-11-05', '2026-11-11')).toEqual(['l2', 'l3']);
  expect(ids('2026-11-12', '2026-11-30')).toEqual([]);
  leave('l2', '2026-11-05', '2026-11-06');
  expect(ids('2026-11-04', '2026-11-04')).toEqual(['l1']);
});

it('keeps when a person joined their school and when they left it, through puts that change neither', () => {
  let now = Date.parse('2026-09-01T00:00:00.000Z');
  const dated = new Directory(store.database, () => now);
  const at = (date: string) => {
    now = Date.parse(`${date}T00:00:00.000Z`);
  };
  dated.putPerson(pupil('p1', { class: '3-1' }));
  at('2026-10-01');
  dated.putPerson(pupil('p1', { class: '3-2' }));
  dated.putPerson(pupil('p2', { active: false }));
  expect(dated.enrolments('school-1')).toEqual([
    { person: pupil('p1', { class: '3-2' }), joinedAt: '2026-09-01T00:00:00.000Z' },
    // Never active here: joined and left at once, on no register.
    {
      person: pupil('p2', { active: false }),
      joinedAt: '2026-10-01T00:00:00.000Z',
      leftAt: '2026-10-01T00:00:00.000Z',
    },
  ]);
  at('2026-11-02');
  dated.putPerson(pupil('p1', { active: false }));
  at('2026-11-09');
  dated.putPerson(pupil('p1', { active: false, name: 'Renamed' }));
  expect(dated.enrolments('school-1')[0]).toEqual({
    person: pupil('p1', { active: false, name: 'Renamed' }),
    joinedAt: '2026-09-01T00:00:00.000Z',
    leftAt: '2026-11-02T00:00:00.000Z',
  });
});

it('has no dates for the persons held before it kept them: the active ones always enrolled, the leavers never', () => {
  store.close();
  store = openTestStore(join(dir, 'older.db'));
  migrateModule(store.database, 'directory', {
    sqlite: DIRECTORY_STEPS.sqlite.slice(0, 1),
    postgres: DIRECTORY_STEPS.postgres.slice(0, 1),
  });
  const insert = store.database.prepare(
    'INSERT INTO directory_persons (id, school, class, student_number, entry) VALUES (?, ?, ?, ?, ?)',
  );
  insert.run('p1', 'school-1', null, null, JSON.stringify(pupil('p1')));
  insert.run('p2', 'school-1', null, null, JSON.stringify(pupil('p2', { active: false })));
  const upgraded = new Directory(store.database, () => Date.parse('2026-12-01T00:00:00.000Z'));
  expect(upgraded.enrolments('school-1')).toEqual([{ person: pupil('p1') }]);
  // A leaver of then put again (a feed's resend) stays off every register; back at the school, they join then.
  upgraded.putPerson(pupil('p2', { active: false }));
  expect(upgraded.enrolments('school-1')).toEqual([{ person: pupil('p1') }]);
  upgraded.putPerson(pupil('p2'));
  expect(upgraded.enrolments('school-1')).toEqual([
    { person: pupil('p1') },
    { person: pupil('p2'), joinedAt: '2026-12-01T00:00:00.000Z' },
  ]);
});

it('keeps each time a pupil was away from their school and came back', () => {
  let now = Date.parse('2026-09-01T00:00:00.000Z');
  const dated = new Directory(store.database, () => now);
  const at = (date: string) => {
    now = Date.parse(`${date}T00:00:00.000Z`);
  };
  dated.putPerson(pupil('p1'));
  at('2026-10-05');
  dated.putPerson(pupil('p1', { active: false }));
  at('2026-10-12');
  dated.putPerson(pupil('p1'));
  at('2026-11-02');
  dated.putPerson(pupil('p1', { active: false }));
  at('2026-11-03');
  dated.putPerson(pupil('p1', { active: false }));
  at('2026-11-09');
  dated.putPerson(pupil('p1'));
  dated.putPerson(pupil('p1', { name: 'Renamed' }));
  const away = [
    { from: '2026-10-05T00:00:00.000Z', to: '2026-10-12T00:00:00.000Z' },
    { from: '2026-11-02T00:00:00.000Z', to: '2026-11-09T00:00:00.000Z' },
  ];
  expect(dated.enrolments('school-1')).toEqual([
    { person: pupil('p1', { name: 'Renamed' }), joinedAt: '2026-09-01T00:00:00.000Z', away },
  ]);
  at('2026-11-16');
  dated.putPerson(pupil('p1', { active: false }));
  expect(dated.enrolments('school-1')[0]).toMatchObject({ leftAt: '2026-11-16T00:00:00.000Z', away });
  // At another school they start afresh.
  dated.putPerson(pupil('p1', { school: 'school-2' }));
  expect(dated.enrolments('school-2')).toEqual([
    { person: pupil('p1', { school: 'school-2' }), joinedAt: '2026-11-16T00:00:00.000Z' },
  ]);
});
