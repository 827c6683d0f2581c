import type { Directory } from '../directory/index.js';
import type { BridgeStore } from '../store/index.js';

/** How long the list of schools a district-wide webhook hears of is kept between reads. */
const SCHOOLS_KEPT_MS = 60_000;

/** One school's day for one webhook: when to look at it next, and when the next day begins. */
export interface SchoolDayPlan {
  date: string;
  nextDayAt: number;
  checkAt: number;
}

export interface SchoolDaysDeps {
  store: Pick<BridgeStore, 'rosterSchools'>;
  directory: Pick<Directory, 'schools'>;
}

/**
 * The days of the schools each webhook hears of (its own, or every school the bridge knows: the
 * directory's and those with a roster, read again once a minute), each with its plan for the day, made
 * afresh when the day turns. What a watch of notices due at a time of the school's day steps through.
 */
export class SchoolDays<P extends SchoolDayPlan> {
  private readonly plans = new Map<string, Map<string, P>>();
  private known: { at: number; schools: string[] } | undefined;

  constructor(
    private readonly deps: SchoolDaysDeps,
    private readonly planOf: (school: string) => P,
  ) {}

  /**
   * One round for a webhook: `look`s at the schools whose time has come, at most `budget` of them (a
   * district's schools sharing a time are spread over rounds). How many it looked at.
   */
  step(
    hook: { key: string; school?: string },
    now: number,
    budget: number,
    look: (school: string, plan: P) => void,
  ): number {
    let looked = 0;
    const plans = this.plans.get(hook.key) ?? new Map<string, P>();
    this.plans.set(hook.key, plans);
    for (const school of hook.school === undefined ? this.schools(now) : [hook.school]) {
      if (looked >= budget) break;
      let plan = plans.get(school);
      if (!plan || now >= plan.nextDayAt) {
        plan = this.planOf(school);
        plans.set(school, plan);
      }
      if (now < plan.checkAt) continue;
      looked++;
      look(school, plan);
    }
    return looked;
  }

  /** A webhook's plans, by school. */
  of(hookKey: string): ReadonlyMap<string, P> {
    return this.plans.get(hookKey) ?? new Map();
  }

  private schools(now: number): string[] {
    if (this.known && now - this.known.at < SCHOOLS_KEPT_MS) return this.known.schools;
    const ids = new Set(this.deps.store.rosterSchools());
    for (const school of this.deps.directory.schools()) ids.add(school.id);
    this.known = { at: now, schools: [...ids].sort() };
    return this.known.schools;
  }
}
