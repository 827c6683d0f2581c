import type { Calendar, CardEntry, Schedule, SelfTestTap } from '@educard/terminal-sdk';
import { decide, PassbackState, type PolicyConfig } from '../policy/index.js';
import type { RosterView } from '../roster/index.js';

const DAY_MS = 86_400_000;
const UTC_CALENDAR: Calendar = { timeZone: 'UTC', holidays: [], closures: [], makeUpDays: [] };

/** The uid of self-test card `index`: outside the range any roster or sample card uses. */
const selfTestUid = (index: number) => `5E1F7E57${String(index).padStart(6, '0')}`;

/**
 * A roster of the self-test cards only, made around `now`: the release's policy decides them with the
 * station's zone, the device's calendar and its policy settings, without touching the real roster.
 */
function selfTestRoster(taps: SelfTestTap[], zone: string, now: number, calendar: Calendar): RosterView {
  const cards = new Map<string, CardEntry>();
  taps.forEach((tap, index) => {
    if (!tap.card.known) return;
    const validFrom =
      tap.card.validity === 'not-yet-valid'
        ? now + DAY_MS
        : tap.card.validity === 'expired'
          ? now - 2 * DAY_MS
          : now - DAY_MS;
    const validUntil = tap.card.validity === 'expired' ? now - DAY_MS : validFrom + 2 * DAY_MS;
    const uid = selfTestUid(index);
    cards.set(uid, {
      cardId: `SELFTEST${index}`,
      credential: { kind: 'uid', uid },
      personId: `selftest-${index}`,
      role: 'staff',
      school: 'self-test',
      status: tap.card.status,
      validFrom: new Date(validFrom).toISOString(),
      validUntil: new Date(validUntil).toISOString(),
      zones: [tap.card.zone === 'station' ? zone : `not-${zone}`],
      schedules: [],
    });
  });
  const byId = new Map([...cards.values()].map((card) => [card.cardId, card]));
  return {
    version: 1,
    school: 'self-test',
    issuedAt: now - DAY_MS,
    expiresAt: now + DAY_MS,
    calendar,
    size: cards.size,
    byCardId: (id) => byId.get(id),
    byUid: (uid) => cards.get(uid),
    byPersonId: (personId) => [...cards.values()].find((card) => card.personId === personId),
    schedule: (): Schedule | undefined => undefined,
  };
}

/**
 * Decides the release's signed self-test taps with this release's own policy code and the device's
 * settings; answers what did not come out as the release says it must, empty when all did.
 */
export function runSelfTest(
  taps: SelfTestTap[],
  context: { zone: string; policy: PolicyConfig; now: number; calendar?: Calendar },
): string[] {
  const roster = selfTestRoster(taps, context.zone, context.now, context.calendar ?? UTC_CALENDAR);
  const policy: PolicyConfig = { ...context.policy, passback: { ...context.policy.passback, mode: 'off' } };
  const wrong: string[] = [];
  taps.forEach((tap, index) => {
    const decision = decide(
      { uid: selfTestUid(index) },
      { zone: context.zone, direction: 'in' },
      roster,
      { now: context.now, trusted: true },
      new PassbackState(),
      policy,
    );
    if (decision.decision !== tap.expect.decision || decision.reason !== tap.expect.reason)
      wrong.push(
        `${tap.name}: ${decision.decision} (${decision.reason}), expected ${tap.expect.decision} (${tap.expect.reason})`,
      );
  });
  return wrong;
}
