import { describe, expect, it } from 'vitest';
import { SchoolTimes } from '../directory/index.js';
import { assignPhases } from './spec.js';
import { quietWindows, windowAt } from './windows.js';

const SETTINGS = { arrival: { beforeMin: 60, afterMin: 30 }, dismissal: { beforeMin: 15, afterMin: 45 } };
const rules = (
  calendar: Partial<{
    holidays: string[];
    closures: string[];
    makeUpDays: { date: string; as: number }[];
  }> = {},
) => ({
  timeZone: 'Asia/Shanghai',
  calendar: { holidays: [], closures: [], makeUpDays: [], ...calendar },
  times: SchoolTimes.parse({ bellTime: '08:00', dismissalTime: '16:30' }),
});
// Friday 7 March 2031, 10:00 in Shanghai.
const FRIDAY_10 = Date.parse('2031-03-07T10:00:00+08:00');

describe('quiet windows from the bell times and the calendar', () => {
  it('holds the arrival and dismissal of school days, not the weekend, for the days asked', () => {
    const windows = quietWindows(rules(), SETTINGS, { now: FRIDAY_10, days: 3, afterHours: false });
    expect(windows).toEqual([
      { from: '2031-03-07T08:15:00.000Z', to: '2031-03-07T09:15:00.000Z', why: 'dismissal' },
      { from: '2031-03-09T23:00:00.000Z', to: '2031-03-10T00:30:00.000Z', why: 'arrival' },
    ]);
    expect(windowAt(windows, FRIDAY_10)).toBeUndefined();
    expect(windowAt(windows, Date.parse('2031-03-07T16:20:00+08:00'))?.why).toBe('dismissal');
  });

  it('keeps holidays and closures free and makes a make-up Saturday a school day', () => {
    const windows = quietWindows(
      rules({ closures: ['2031-03-07'], makeUpDays: [{ date: '2031-03-08', as: 1 }] }),
      SETTINGS,
      {
        now: FRIDAY_10,
        days: 2,
        afterHours: false,
      },
    );
    // Saturday's arrival opens at 07:00 in Shanghai, 23:00 UTC on Friday; Sunday has none.
    expect(windows.map((w) => `${w.from.slice(0, 10)} ${w.why}`)).toEqual([
      '2031-03-07 arrival',
      '2031-03-08 dismissal',
    ]);
  });

  it('after hours only: the whole school day is quiet', () => {
    const windows = quietWindows(rules(), SETTINGS, { now: FRIDAY_10, days: 0, afterHours: true });
    expect(windows).toEqual([
      { from: '2031-03-06T23:00:00.000Z', to: '2031-03-07T09:15:00.000Z', why: 'school-hours' },
    ]);
    expect(windowAt(windows, FRIDAY_10)?.why).toBe('school-hours');
  });
});

describe('phases', () => {
  const fleet = ['a', 'b'].flatMap((school) =>
    Array.from({ length: 10 }, (_, i) => ({ device: `${school}-${String(i).padStart(2, '0')}`, school })),
  );

  it('puts one canary per school first, then shares of the whole, and the rest last', () => {
    const phases = assignPhases(fleet, ['canary', '25%', '100%']);
    const of = (phase: number) => phases.filter((p) => p.phase === phase).map((p) => p.device);
    expect(of(0)).toEqual(['a-00', 'b-00']);
    expect(of(1)).toEqual(['a-01', 'a-02', 'a-03']);
    expect(of(2)).toHaveLength(15);
  });
});
