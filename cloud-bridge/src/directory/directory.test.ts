import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { Directory, type DirectoryPerson } from './index.js';

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
  expect(directory.forgetPerson('p-d')).toBe(true);
  expect(directory.forgetPerson('p-d')).toBe(false);
  expect(directory.personByStudentNumber('G11010120100101123X')).toBeUndefined();
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
