import { Identifier, IsoDate, Role } from '@educard/terminal-sdk';
import { z } from 'zod';
import { type BridgeStore, type ModuleSteps, migrateModule, type SqlDatabase } from '../store/index.js';

/**
 * What the bridge holds of the central student-record system beyond the roster: schools with their
 * bell times, classes, people with their student-status number, and leave. The change feed writes it
 * (central/), attendance reads it (attendance/). Cards stay in the roster.
 */

const Clock = z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$/, 'HH:MM, 00:00 to 23:59');

/**
 * The national student-status number (全国学籍号): G and the 18 characters of the resident ID number, or
 * L (or J) and 18 for pupils without one; the last character may be X.
 */
export const StudentNumber = z
  .string()
  .regex(/^[GLJ]\d{17}[\dX]$/, 'G, L or J and 18 digits (the last may be X)');

export const SchoolTimes = z.object({
  /** A pupil whose first entry is after this is late. */
  bellTime: Clock.default('08:00'),
  /** A pupil with no entry by this time is absent. */
  cutoffTime: Clock.default('09:30'),
  /** A pupil whose last exit is before this (and who does not come back) left early. */
  dismissalTime: Clock.default('16:30'),
});
export type SchoolTimes = z.infer<typeof SchoolTimes>;

export const DirectorySchool = z.object({
  id: Identifier,
  name: z.string().min(1).max(128),
  times: SchoolTimes.prefault({}),
});
export type DirectorySchool = z.infer<typeof DirectorySchool>;

export const DirectoryClass = z.object({
  school: Identifier,
  /** The class as the roster's cards name it (`class`), unique within its school. */
  id: z.string().min(1).max(32),
  name: z.string().min(1).max(64),
  grade: z.string().max(32).optional(),
  /** The head teacher's person id. */
  headTeacher: Identifier.optional(),
  /** Times of this class where they differ from the school's (a grade that starts later). */
  bellTime: Clock.optional(),
  dismissalTime: Clock.optional(),
});
export type DirectoryClass = z.infer<typeof DirectoryClass>;

export const DirectoryPerson = z.object({
  id: Identifier,
  school: Identifier,
  role: Role,
  name: z.string().min(1).max(64),
  studentNumber: StudentNumber.optional(),
  class: z.string().min(1).max(32).optional(),
  grade: z.string().max(32).optional(),
  /** A pupil who left the school stays on record, inactive. */
  active: z.boolean().default(true),
});
export type DirectoryPerson = z.infer<typeof DirectoryPerson>;

export const LeaveRecord = z
  .object({
    id: Identifier,
    personId: Identifier,
    school: Identifier,
    from: IsoDate,
    to: IsoDate,
    kind: z.enum(['sick', 'personal', 'school-activity', 'other']),
    cancelled: z.boolean().default(false),
  })
  .refine((leave) => leave.from <= leave.to, {
    message: 'a leave must not end before it starts',
    path: ['to'],
  });
export type LeaveRecord = z.infer<typeof LeaveRecord>;

/**
 * The second step: when the directory first held a person at their school and when it learnt they
 * left. Persons already held have neither (attendance lists them on every day, as before).
 */
const ENROLMENT_DATES = `ALTER TABLE directory_persons ADD COLUMN joined_at TEXT;
   ALTER TABLE directory_persons ADD COLUMN left_at TEXT;`;

/**
 * The third step: the times a pupil was away from their school and came back (marked inactive, then
 * active again), a JSON list of periods; held persons have none.
 */
const AWAY_PERIODS = 'ALTER TABLE directory_persons ADD COLUMN away TEXT;';

export const DIRECTORY_STEPS = {
  sqlite: [
    `CREATE TABLE directory_schools (id TEXT PRIMARY KEY, entry TEXT NOT NULL);
   CREATE TABLE directory_classes (school TEXT NOT NULL, id TEXT NOT NULL, entry TEXT NOT NULL, PRIMARY KEY (school, id));
   CREATE TABLE directory_persons (
     id TEXT PRIMARY KEY,
     school TEXT NOT NULL,
     class TEXT,
     student_number TEXT UNIQUE,
     entry TEXT NOT NULL
   );
   CREATE INDEX directory_persons_class ON directory_persons (school, class);
   CREATE TABLE directory_leaves (
     id TEXT PRIMARY KEY,
     school TEXT NOT NULL,
     person_id TEXT NOT NULL,
     from_date TEXT NOT NULL,
     to_date TEXT NOT NULL,
     entry TEXT NOT NULL
   );
   CREATE INDEX directory_leaves_school ON directory_leaves (school, from_date);`,
    ENROLMENT_DATES,
    AWAY_PERIODS,
  ],
  postgres: [
    `CREATE TABLE directory_schools (id TEXT COLLATE "C" PRIMARY KEY, entry TEXT NOT NULL);
     CREATE TABLE directory_classes (
       school TEXT COLLATE "C" NOT NULL,
       id TEXT COLLATE "C" NOT NULL,
       entry TEXT NOT NULL,
       PRIMARY KEY (school, id)
     );
     CREATE TABLE directory_persons (
       id TEXT COLLATE "C" PRIMARY KEY,
       school TEXT COLLATE "C" NOT NULL,
       class TEXT COLLATE "C",
       student_number TEXT COLLATE "C" UNIQUE,
       entry TEXT NOT NULL
     );
     CREATE INDEX directory_persons_class ON directory_persons (school, class);
     CREATE TABLE directory_leaves (
       id TEXT COLLATE "C" PRIMARY KEY,
       school TEXT COLLATE "C" NOT NULL,
       person_id TEXT COLLATE "C" NOT NULL,
       from_date TEXT COLLATE "C" NOT NULL,
       to_date TEXT COLLATE "C" NOT NULL,
       entry TEXT NOT NULL
     );
     CREATE INDEX directory_leaves_school ON directory_leaves (school, from_date);`,
    ENROLMENT_DATES,
    AWAY_PERIODS,
  ],
} satisfies ModuleSteps;

/** From when to when a pupil was away from their school (ISO instants): marked as left, then back. */
export interface AwayPeriod {
  from: string;
  to: string;
}

/**
 * A person as the school has them, with when the directory first held them at that school, when it
 * learnt they left, and the times they were away and came back (ISO instants): attendance lists a
 * pupil on the days between, but for those away. No dates for persons held since before the directory
 * kept them: then "always", and a leaver of then never.
 */
export interface Enrolment {
  person: DirectoryPerson;
  joinedAt?: string;
  leftAt?: string;
  away?: AwayPeriod[];
}

/** The directory's tables in the bridge's database. Writes are plain upserts: the caller holds the transaction. */
export class Directory {
  private readonly statements;

  constructor(
    readonly db: SqlDatabase,
    private readonly now: () => number = Date.now,
  ) {
    migrateModule(db, 'directory', DIRECTORY_STEPS);
    this.statements = {
      putSchool: db.prepare(
        'INSERT INTO directory_schools (id, entry) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET entry = excluded.entry',
      ),
      school: db.prepare<[string], { entry: string }>('SELECT entry FROM directory_schools WHERE id = ?'),
      schools: db.prepare<[], { entry: string }>('SELECT entry FROM directory_schools ORDER BY id'),
      putClass: db.prepare(
        'INSERT INTO directory_classes (school, id, entry) VALUES (?, ?, ?) ON CONFLICT (school, id) DO UPDATE SET entry = excluded.entry',
      ),
      class: db.prepare<[string, string], { entry: string }>(
        'SELECT entry FROM directory_classes WHERE school = ? AND id = ?',
      ),
      classes: db.prepare<[string], { entry: string }>(
        'SELECT entry FROM directory_classes WHERE school = ? ORDER BY id',
      ),
      putPerson: db.prepare(
        `INSERT INTO directory_persons (id, school, class, student_number, entry, joined_at, left_at, away)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET school = excluded.school, class = excluded.class,
           student_number = excluded.student_number, entry = excluded.entry,
           joined_at = excluded.joined_at, left_at = excluded.left_at, away = excluded.away`,
      ),
      held: db.prepare<[string], EnrolmentRow>(
        'SELECT school, entry, joined_at, left_at, away FROM directory_persons WHERE id = ?',
      ),
      enrolments: db.prepare<[string], EnrolmentRow>(
        'SELECT school, entry, joined_at, left_at, away FROM directory_persons WHERE school = ? ORDER BY id',
      ),
      renamePerson: db.prepare(
        'UPDATE directory_persons SET id = ?, student_number = NULL, entry = ? WHERE id = ?',
      ),
      personLeaves: db.prepare<[string], { entry: string }>(
        'SELECT entry FROM directory_leaves WHERE person_id = ? ORDER BY from_date, id',
      ),
      renameLeave: db.prepare('UPDATE directory_leaves SET person_id = ?, entry = ? WHERE id = ?'),
      person: db.prepare<[string], { entry: string }>('SELECT entry FROM directory_persons WHERE id = ?'),
      byStudentNumber: db.prepare<[string], { entry: string }>(
        'SELECT entry FROM directory_persons WHERE student_number = ?',
      ),
      schoolPersons: db.prepare<[string], { entry: string }>(
        'SELECT entry FROM directory_persons WHERE school = ? ORDER BY id',
      ),
      classPersons: db.prepare<[string, string], { entry: string }>(
        'SELECT entry FROM directory_persons WHERE school = ? AND class = ? ORDER BY id',
      ),
      putLeave: db.prepare(
        `INSERT INTO directory_leaves (id, school, person_id, from_date, to_date, entry) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET school = excluded.school, person_id = excluded.person_id,
           from_date = excluded.from_date, to_date = excluded.to_date, entry = excluded.entry`,
      ),
      leavesBetween: db.prepare<[string, string, string], { entry: string }>(
        'SELECT entry FROM directory_leaves WHERE school = ? AND from_date <= ? AND to_date >= ? ORDER BY id',
      ),
    };
  }

  putSchool(school: DirectorySchool): void {
    this.statements.putSchool.run(school.id, JSON.stringify(school));
  }
  school(id: string): DirectorySchool | undefined {
    return parsed(this.statements.school.get(id));
  }
  schools(): DirectorySchool[] {
    return this.statements.schools.all().map((row) => JSON.parse(row.entry));
  }

  putClass(entry: DirectoryClass): void {
    this.statements.putClass.run(entry.school, entry.id, JSON.stringify(entry));
  }
  class(school: string, id: string): DirectoryClass | undefined {
    return parsed(this.statements.class.get(school, id));
  }
  classes(school: string): DirectoryClass[] {
    return this.statements.classes.all(school).map((row) => JSON.parse(row.entry));
  }

  /**
   * Puts a person, keeping when they joined their school (now, for a person new to it), when they
   * left it (now, when an active person is put inactive) and the times they were away: a leaver put
   * back active was away from when they left until now. A move to another school starts afresh.
   */
  putPerson(person: DirectoryPerson): void {
    const now = new Date(this.now()).toISOString();
    const enrolment = enrolled(this.statements.held.get(person.id), person, now);
    this.statements.putPerson.run(
      person.id,
      person.school,
      person.class ?? null,
      person.studentNumber ?? null,
      JSON.stringify(person),
      enrolment.joinedAt ?? null,
      enrolment.leftAt ?? null,
      enrolment.away ? JSON.stringify(enrolment.away) : null,
    );
  }
  /**
   * The school's persons with when they joined and left it: the active ones, and those who left
   * since the directory kept the date.
   */
  enrolments(school: string): Enrolment[] {
    const held: Enrolment[] = [];
    for (const row of this.statements.enrolments.all(school)) {
      const enrolment = enrolmentOf(row);
      if (!enrolment.person.active && enrolment.leftAt === undefined) continue;
      held.push(enrolment);
    }
    return held;
  }
  /**
   * A leaver made anonymous (docs/privacy.md): their record keeps only role, school, class and grade
   * under the pseudonym, and when they were the school's, so the registers of their days still count
   * them; their leaves move to the pseudonym too. How many rows changed.
   */
  anonymisePerson(id: string, pseudonym: string): number {
    const leaves = this.leavesOf(id);
    for (const leave of leaves)
      this.statements.renameLeave.run(pseudonym, JSON.stringify({ ...leave, personId: pseudonym }), leave.id);
    const person = this.person(id);
    if (!person) return leaves.length;
    const kept: DirectoryPerson = {
      id: pseudonym,
      school: person.school,
      role: person.role,
      name: pseudonym,
      ...(person.class !== undefined ? { class: person.class } : {}),
      ...(person.grade !== undefined ? { grade: person.grade } : {}),
      active: false,
    };
    this.statements.renamePerson.run(pseudonym, JSON.stringify(kept), id);
    return 1 + leaves.length;
  }

  person(id: string): DirectoryPerson | undefined {
    return parsed(this.statements.person.get(id));
  }
  personByStudentNumber(studentNumber: string): DirectoryPerson | undefined {
    return parsed(this.statements.byStudentNumber.get(studentNumber));
  }
  persons(school: string, className?: string): DirectoryPerson[] {
    const rows =
      className === undefined
        ? this.statements.schoolPersons.all(school)
        : this.statements.classPersons.all(school, className);
    return rows.map((row) => JSON.parse(row.entry));
  }

  putLeave(leave: LeaveRecord): void {
    this.statements.putLeave.run(
      leave.id,
      leave.school,
      leave.personId,
      leave.from,
      leave.to,
      JSON.stringify(leave),
    );
  }
  /** A person's leaves, cancelled ones included, in the order they start. */
  leavesOf(personId: string): LeaveRecord[] {
    return this.statements.personLeaves.all(personId).map((row) => JSON.parse(row.entry));
  }
  /** The leaves of a school that overlap the dates from..to (inclusive), cancelled ones included. */
  leaves(school: string, from: string, to: string): LeaveRecord[] {
    return this.statements.leavesBetween.all(school, to, from).map((row) => JSON.parse(row.entry));
  }
}

interface EnrolmentRow {
  school: string;
  entry: string;
  joined_at: string | null;
  left_at: string | null;
  away: string | null;
}

function enrolmentOf(row: EnrolmentRow): Enrolment {
  const enrolment: Enrolment = { person: JSON.parse(row.entry) as DirectoryPerson };
  if (row.joined_at !== null) enrolment.joinedAt = row.joined_at;
  if (row.left_at !== null) enrolment.leftAt = row.left_at;
  if (row.away !== null) enrolment.away = JSON.parse(row.away) as AwayPeriod[];
  return enrolment;
}

/** A person's enrolment at their school once put, from what the directory held of them before. */
function enrolled(
  row: EnrolmentRow | undefined,
  person: DirectoryPerson,
  now: string,
): Omit<Enrolment, 'person'> {
  if (row?.school !== person.school) return { joinedAt: now, ...(person.active ? {} : { leftAt: now }) };
  const { person: was, ...kept } = enrolmentOf(row);
  // Marked as left again (a resend, an edit): since the first time, or never on a register.
  if (!person.active) return was.active ? { ...kept, leftAt: now } : kept;
  if (was.active) return kept;
  const { leftAt, ...back } = kept;
  // Back at the school. A leaver held from before the directory kept dates was on no register: they join now.
  if (leftAt === undefined) return { joinedAt: now };
  return { ...back, away: [...(back.away ?? []), { from: leftAt, to: now }] };
}

function parsed<T>(row: { entry: string } | undefined): T | undefined {
  return row ? (JSON.parse(row.entry) as T) : undefined;
}

/** A person as a list names them: their name, class and role. */
export interface PersonLabel {
  name: string;
  /** Their class at the school the list is of: none for a person the directory has at another. */
  class?: string;
  role?: string;
  /** The school the directory has them at now, when it is not the list's (a pupil moved on). */
  nowAt?: string;
}

/**
 * Who a person is, for a list of `school`'s someone reads: the directory's record, else their card on
 * `school`'s roster (a district without the central feed has only cards), else their id. A person the
 * directory has at another school now (moved there) is named with that school, not with a class: a
 * class of another school is not one of this school's, and must not put them in its lists.
 */
export function personLabel(
  directory: Directory,
  cards: Pick<BridgeStore, 'personCards'>,
  personId: string,
  school: string,
): PersonLabel {
  const person = directory.person(personId);
  const card = person ? undefined : cards.personCards(personId).find((c) => c.school === school);
  const nowAt = person && person.school !== school ? person.school : undefined;
  const className = nowAt ? undefined : (person?.class ?? card?.class);
  const role = person?.role ?? card?.role;
  return {
    name: person?.name ?? card?.displayName ?? personId,
    ...(className ? { class: className } : {}),
    ...(role ? { role } : {}),
    ...(nowAt ? { nowAt } : {}),
  };
}

/** People's names in the order a Chinese school lists them (pinyin), numbers by value. */
export const byName = new Intl.Collator('zh-CN', { numeric: true }).compare;
/** Class ids in order, numbers by value (3A before 10A). */
export const byClassId = new Intl.Collator('en', { numeric: true }).compare;
