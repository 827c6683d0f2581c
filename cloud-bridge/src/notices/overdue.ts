import { localDate } from '@educard/terminal-sdk';
import type { Logger } from 'pino';
import { type Attendance, addDays } from '../attendance/index.js';
import type { Directory } from '../directory/index.js';
import type { OverdueList, OverdueLoan } from '../library/index.js';
import type { BridgeStore } from '../store/index.js';
import type { NoticeLedger, OverdueTold } from './ledger.js';
import type { OverdueBook, OverdueNotice } from './notice.js';
import { type SchoolDayPlan, SchoolDays } from './schools.js';

/**
 * The reminders go out from the school's dismissal for this long; a bridge that reaches a school's
 * dismissal later (down all afternoon) leaves them to the next school day rather than text at night.
 */
export const OVERDUE_REMIND_WITHIN_MS = 3 * 3_600_000;
/** While the school is in lockdown, how often it is looked at again. */
const LOCKDOWN_RECHECK_MS = 60_000;

/** One school's day for one webhook: its dismissal, when the reminders are due (on a school day). */
interface Plan extends SchoolDayPlan {
  dismissal: number;
  heldForLockdown?: boolean;
}

export interface OverdueDeps {
  store: Pick<BridgeStore, 'rosterSchools'>;
  /** The schools, and each pupil's student number for the receiver. */
  directory: Pick<Directory, 'schools' | 'person'>;
  attendance: Pick<Attendance, 'today' | 'startOfDay' | 'dismissalOf'>;
  /** A school's library loans overdue at an instant, with borrowers and titles (the librarian's list). */
  overdueBooks: (school: string, at: Date) => OverdueList;
  /** Whether a school is in lockdown (ordered, or a gate's switch): no reminder goes during one. */
  lockedDown?: (school: string) => boolean;
  ledger: NoticeLedger;
  logger: Logger;
}

/** The part of a webhook's settings the watch needs. */
export interface OverdueHook {
  key: string;
  school?: string;
  overdueEveryDays: number;
}

/**
 * Reminders of overdue books: on a school day, from the school's dismissal (the books can come back
 * the next morning), each pupil with a book of the school's library overdue is a notice listing all
 * of them, queued once a day at most per webhook. A pupil told is told again after the webhook's
 * `overdueEveryDays`, or sooner when another book of theirs fell overdue since. Teachers and staff are
 * not told (the library chases its own colleagues), nor a pupil who left; a pupil who moved to another
 * school still is, by the school whose library lent the book. No reminder on a day without school, nor
 * late in the evening, nor while the school is in lockdown (they wait for its end).
 */
export class OverdueWatch {
  private readonly days: SchoolDays<Plan>;

  constructor(private readonly deps: OverdueDeps) {
    this.days = new SchoolDays(deps, (school) => {
      const { attendance } = deps;
      const date = attendance.today(school);
      const dismissal = attendance.dismissalOf(school, date) ?? Number.POSITIVE_INFINITY;
      return {
        date,
        nextDayAt: attendance.startOfDay(school, addDays(date, 1)),
        checkAt: dismissal,
        dismissal,
      };
    });
  }

  /** One round for a webhook: looks at no more than `budget` schools whose time has come. How many. */
  step(hook: OverdueHook, now: number, budget: number): number {
    return this.days.step(hook, now, budget, (school, plan) => this.look(hook, school, plan, now));
  }

  private look(hook: OverdueHook, school: string, plan: Plan, now: number): void {
    const { date, dismissal } = plan;
    const log = { school, date, webhook: hook.key };
    // Once a day, but for a lockdown: looked at again each minute until it ends.
    plan.checkAt = Number.POSITIVE_INFINITY;
    if (now >= dismissal + OVERDUE_REMIND_WITHIN_MS) {
      this.deps.logger.info(log, 'overdue-book reminders not sent today: the school day ended hours ago');
      return;
    }
    if (this.deps.lockedDown?.(school)) {
      if (!plan.heldForLockdown)
        this.deps.logger.info(log, 'overdue-book reminders held: the school is in lockdown');
      plan.heldForLockdown = true;
      plan.checkAt = now + LOCKDOWN_RECHECK_MS;
      return;
    }
    const list = this.deps.overdueBooks(school, new Date(now));
    const told = this.deps.ledger.overdueToldOn(hook.key, school);
    // A pupil who left (inactive, anonymised in time) is no parent's to tell through the school's
    // webhook: the office was told of their books when they were removed, and the list still has them.
    const reminders = remindersDue(list, date, told, hook.overdueEveryDays).flatMap((reminder) => {
      const person = this.deps.directory.person(reminder.personId);
      if (person && !person.active) return [];
      return [person?.studentNumber ? { ...reminder, studentNumber: person.studentNumber } : reminder];
    });
    const queued = this.deps.ledger.queueOverdue(hook.key, reminders, now);
    if (queued) this.deps.logger.info({ ...log, queued }, 'overdue-book reminders queued');
  }
}

/**
 * The reminders a school's overdue list makes due on a date: one per pupil with books overdue, all of
 * them listed in the list's order (each borrower's oldest due first); for a pupil told before (`told`),
 * only once `everyDays` have passed since or a book fell overdue after that reminder.
 */
function remindersDue(
  list: OverdueList,
  date: string,
  told: ReadonlyMap<string, OverdueTold>,
  everyDays: number,
): OverdueNotice[] {
  const byPupil = new Map<string, OverdueLoan[]>();
  for (const loan of list.loans) {
    if (loan.role !== 'student') continue;
    const loans = byPupil.get(loan.personId);
    if (loans) loans.push(loan);
    else byPupil.set(loan.personId, [loan]);
  }
  const reminders: OverdueNotice[] = [];
  for (const [personId, loans] of byPupil) {
    const last = told.get(personId);
    const due =
      !last ||
      date >= addDays(last.date, everyDays) ||
      loans.some((loan) => Date.parse(loan.dueAt) > Date.parse(last.at));
    if (!due) continue;
    const [first] = loans as [OverdueLoan];
    const books = loans.map(
      (loan): OverdueBook => ({
        itemId: loan.itemId,
        ...(loan.title ? { title: loan.title } : {}),
        dueDate: localDate(Date.parse(loan.dueAt), list.timeZone),
        daysOverdue: loan.daysOverdue,
      }),
    );
    reminders.push({
      id: `o${date}:${personId}`,
      kind: 'overdue',
      school: list.school,
      personId,
      name: first.name,
      ...(first.class ? { class: first.class } : {}),
      ...(first.nowAt ? { nowAt: first.nowAt } : {}),
      date,
      books,
    });
  }
  return reminders;
}
