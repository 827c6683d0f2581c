import { DEFAULT_ROSTER_SETTINGS } from '../roster/index.js';
import type { BridgeStore } from '../store/index.js';
import { ALARM_KINDS, type Alarms } from './alarms.js';
import { daysOffIn, schoolYearAt, warnFrom } from './dates.js';
import type { RosterProgress } from './rosters.js';
import type { CalendarCoverage, ExpiryView, KeySetAge, RosterExpiry } from './types.js';

const DAY_MS = 86_400_000;

export interface ExpirySettings {
  expiryWarningDays: number;
  /** `MM-DD`. */
  schoolYearStart: string;
}

/** The latest key set's version and issue time (what the roster keyring holds). */
export interface KeySetInfo {
  version: number;
  issuedAt: string;
}

export interface ExpiryDeps {
  store: BridgeStore;
  rosters: RosterProgress;
  alarms: Alarms;
  settings: ExpirySettings;
  now: () => Date;
  keySet?: () => KeySetInfo;
}

/**
 * What the product depends on the date for, said before it bites: a school calendar that names no
 * holiday or closure in the school year under way (a gate would open on a holiday nobody entered), and a
 * school's latest roster near the expiry of its signed manifest (gates refuse an expired roster). Key
 * sets carry no expiry: their age is shown. The bridge holds no card-issuer certificates to watch.
 * Every figure is reckoned on the bridge's clock.
 */
export class ExpiryWatch {
  private checkedAt: number | undefined;

  constructor(private readonly deps: ExpiryDeps) {}

  /** The dated things of one school, or of every school with a roster. */
  view(school?: string): ExpiryView {
    const nowMs = this.deps.now().getTime();
    const schools = this.deps.store.rosterSchools().filter((s) => school === undefined || s === school);
    return {
      at: new Date(nowMs).toISOString(),
      warningDays: this.deps.settings.expiryWarningDays,
      rosters: schools.flatMap((s) => this.roster(s, nowMs) ?? []),
      calendars: schools.map((s) => this.calendar(s, nowMs)),
      keySet: this.keySetAge(nowMs),
    };
  }

  /**
   * Raises and clears `calendar.empty` and `roster.expiring` for one school (after its roster is
   * published) or for all (once a day on the bridge's clock).
   */
  check(school?: string): void {
    const view = this.view(school);
    const { alarms } = this.deps;
    for (const calendar of view.calendars) {
      const subject = { school: calendar.school };
      if (calendar.holidays + calendar.closures > 0)
        alarms.clear(ALARM_KINDS.calendarEmpty, subject, 'system');
      else
        alarms.restate({
          ...subject,
          kind: ALARM_KINDS.calendarEmpty,
          message: `no holidays or closures entered for the school year ${calendar.schoolYear.first} to ${calendar.schoolYear.last}`,
        });
    }
    for (const roster of view.rosters) {
      const subject = { school: roster.school };
      if (!roster.expiring) alarms.clear(ALARM_KINDS.rosterExpiring, subject, 'system');
      else
        alarms.restate({
          ...subject,
          kind: ALARM_KINDS.rosterExpiring,
          message: roster.expired
            ? `roster ${roster.version} expired at ${roster.expiresAt}: gates refuse it`
            : `roster ${roster.version} expires at ${roster.expiresAt} unless a newer version is published`,
        });
    }
    if (school === undefined) this.checkedAt = Date.parse(view.at);
  }

  /** Whether a day has passed on the bridge's clock since every school was last checked. */
  get due(): boolean {
    return this.checkedAt === undefined || this.deps.now().getTime() - this.checkedAt >= DAY_MS;
  }

  private roster(school: string, nowMs: number): RosterExpiry | undefined {
    const { rosters, store } = this.deps;
    const latest = rosters.latest(school);
    const validity = latest && rosters.validity(school, latest.version);
    if (!latest || !validity) return undefined;
    const expiresMs = Date.parse(validity.expiresAt);
    const flagFrom = warnFrom(
      Date.parse(validity.issuedAt),
      expiresMs,
      this.deps.settings.expiryWarningDays * DAY_MS,
    );
    const olderHeld = store
      .listDevices(school)
      .filter((device) => device.revokedAt === undefined)
      .flatMap((device) => {
        const held = rosters.held(device);
        if (held === undefined || held >= latest.version) return [];
        const expiresAt = held > 0 ? rosters.expiresAt(school, held) : undefined;
        return [{ device: device.id, version: held, expiresAt: expiresAt ?? null }];
      });
    return {
      school,
      version: latest.version,
      issuedAt: validity.issuedAt,
      expiresAt: validity.expiresAt,
      warnFrom: new Date(flagFrom).toISOString(),
      expiring: nowMs >= flagFrom,
      expired: nowMs >= expiresMs,
      olderHeld,
    };
  }

  /** A school that imported no calendar runs on the roster's default one, which names no day off. */
  private calendar(school: string, nowMs: number): CalendarCoverage {
    const { calendar } = this.deps.store.rosterSettings(school) ?? DEFAULT_ROSTER_SETTINGS;
    const schoolYear = schoolYearAt(nowMs, calendar.timeZone, this.deps.settings.schoolYearStart);
    return { school, timeZone: calendar.timeZone, schoolYear, ...daysOffIn(calendar, schoolYear) };
  }

  private keySetAge(nowMs: number): KeySetAge | null {
    const keySet = this.deps.keySet?.();
    if (!keySet) return null;
    const ageDays = Math.max(0, Math.floor((nowMs - Date.parse(keySet.issuedAt)) / DAY_MS));
    return { version: keySet.version, issuedAt: keySet.issuedAt, ageDays };
  }
}
