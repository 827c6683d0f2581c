import { describe, expect, it } from 'vitest';
import { emptyCounts } from './day.js';
import { type ParentNoticeSource, withParentNotices } from './parent-notices.js';
import type { AttendanceDay, PupilDay, RefusalParentNotice } from './types.js';

const DATE = '2026-11-23';
const at = (clock: string) => `${DATE}T${clock}:00.000Z`;

const pupil = (personId: string, times: Partial<PupilDay> = {}): PupilDay => ({
  personId,
  name: personId,
  status: 'present',
  leftEarly: false,
  ...times,
});

const day = (pupils: PupilDay[], schoolDay = true): AttendanceDay => ({
  school: 'school-1',
  date: DATE,
  timeZone: 'UTC',
  schoolDay,
  cutoffPassed: true,
  generatedAt: at('16:00'),
  totals: emptyCounts(),
  classes: [
    {
      class: '3-1',
      name: '3-1',
      bellTime: at('08:00'),
      cutoffTime: at('09:00'),
      dismissalTime: at('16:00'),
      counts: emptyCounts(),
      pupils,
    },
  ],
});

const told = (refusedAt: string, sentAt = refusedAt): RefusalParentNotice => ({
  state: 'delivered',
  at: sentAt,
  refusedAt,
});

/** What the notices module answers for the day: the refusals told, by pupil, and the span it was asked for. */
function source(refusals: Record<string, RefusalParentNotice[]>) {
  const asked: unknown[] = [];
  const answer: ParentNoticeSource = {
    parentNotices: (school, date, span) => {
      asked.push({ school, date, span });
      return { absences: new Map(), refusals: new Map(Object.entries(refusals)), heldBy: [] };
    },
  };
  return { answer, asked };
}

const refusalNotices = (shown: AttendanceDay) =>
  Object.fromEntries(shown.classes[0]?.pupils.map((p) => [p.personId, p.refusalNotice]) ?? []);

describe('the register’s refusal notices', () => {
  it('show beside a pupil turned away the notice of the refusal since they last left, none for one let in', () => {
    const { answer, asked } = source({
      // Refused before school (told), in at 08:05, out at 12:00, refused at 12:40 (told) and 12:45 (not again).
      again: [told(at('07:50')), told(at('12:40'), at('12:41'))],
      // Refused before school (told), in, out, then refused by a lockdown (never told).
      lockdown: [told(at('07:50'))],
      // Refused and told, then let in: nobody is outside.
      letIn: [told(at('07:50'))],
    });
    const shown = withParentNotices(
      day([
        pupil('again', { leftAt: at('12:00'), turnedAwayAt: at('12:45'), turnedAwayReason: 'expired' }),
        pupil('lockdown', { leftAt: at('12:00'), turnedAwayAt: at('12:40'), turnedAwayReason: 'lockdown' }),
        pupil('letIn', { arrivedAt: at('08:05') }),
        pupil('never', { status: 'absent', turnedAwayAt: at('07:40'), turnedAwayReason: 'lost' }),
      ]),
      answer,
    );
    expect(refusalNotices(shown)).toEqual({
      again: told(at('12:40'), at('12:41')),
      lockdown: undefined,
      letIn: undefined,
      never: undefined,
    });
    expect(asked).toEqual([
      { school: 'school-1', date: DATE, span: { from: at('00:00'), to: '2026-11-24T00:00:00.000Z' } },
    ]);
  });

  it('show for a pupil outside all day the latest refusal told, and nothing on a day that is not a school day', () => {
    const { answer } = source({ outside: [told(at('07:40')), told(at('07:55'))] });
    const outside = pupil('outside', {
      status: 'absent',
      turnedAwayAt: at('08:10'),
      turnedAwayReason: 'expired',
    });
    expect(refusalNotices(withParentNotices(day([outside]), answer))).toEqual({ outside: told(at('07:55')) });
    expect(refusalNotices(withParentNotices(day([outside], false), answer))).toEqual({ outside: undefined });
  });
});
