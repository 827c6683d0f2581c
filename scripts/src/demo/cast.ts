import { localTime } from '@educard/gateway';
import type { CardEntry, Schedule } from '@educard/terminal-sdk';
import { sampleCard, sampleCardSeed, sampleCpuCard, sampleUid } from '@educard/terminal-sdk/testing';

export const TIME_ZONE = 'Asia/Shanghai';

/** A person of the demo, with the card they carry and how the simulated reader presents it. */
export interface Actor {
  name: string;
  entry?: CardEntry;
  card: { uid: string; cpu?: { cardNumber: string; seed: string } };
}

const DAY = 86_400_000;
const clock = (epochMs: number) => {
  const { minutes } = localTime(epochMs, TIME_ZONE);
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
};

/**
 * The demo's people and schedules, made around the moment it runs, so that every decision comes out
 * the same whatever the day and hour: the school day is open now, the boarders' night is not.
 */
export function makeCast(now: number) {
  const valid = {
    validFrom: new Date(now - 30 * DAY).toISOString(),
    validUntil: new Date(now + 300 * DAY).toISOString(),
  };
  const actor = (name: string, entry: CardEntry, card?: Actor['card']): Actor => ({
    name,
    entry: { ...entry, ...valid, ...stripValidity(entry), displayName: name },
    card: card ?? { uid: entry.credential.uid as string },
  });
  const liFang = sampleCpuCard(2, { schedules: ['school-day'] });
  const cast = {
    wangWei: actor('Wang Wei', sampleCard(1)),
    liFang: actor('Li Fang', liFang, {
      uid: sampleUid(90_002),
      cpu: { cardNumber: liFang.cardId, seed: Buffer.from(sampleCardSeed(2)).toString('hex') },
    }),
    zhangMin: actor('Zhang Min', sampleCard(3, { status: 'lost' })),
    liuJing: actor('Liu Jing', sampleCard(4, { validUntil: new Date(now - 10 * DAY).toISOString() })),
    chenLei: actor('Chen Lei', sampleCard(5, { zones: ['library'] })),
    yangYan: actor('Yang Yan', sampleCard(6, { schedules: ['boarding-night'] })),
    zhouBo: actor('Zhou Bo', sampleCard(7, { role: 'teacher', schedules: [] })),
    stranger: { name: '(not on the roster)', card: { uid: 'DEADBEEF' } } as Actor,
    /** A blank card given Li Fang's CPU card's UID: a copy that cannot sign. */
    cloner: { name: '(copy of Li Fang)', card: { uid: liFang.credential.uid as string } } as Actor,
  };
  const everyDay = [1, 2, 3, 4, 5, 6, 7];
  const schedules: Schedule[] = [
    {
      id: 'school-day',
      windows: [{ days: everyDay, start: clock(now - 2 * 3_600_000), end: clock(now + 2 * 3_600_000) }],
      onHolidays: false,
    },
    {
      id: 'boarding-night',
      windows: [{ days: everyDay, start: clock(now + 3 * 3_600_000), end: clock(now + 5 * 3_600_000) }],
      onHolidays: false,
    },
  ];
  const cards = Object.values(cast).flatMap((a) => (a.entry ? [a.entry] : []));
  return {
    cast,
    cards,
    schedules,
    calendar: { timeZone: TIME_ZONE, holidays: [], closures: [], makeUpDays: [] },
  };
}

/** Keeps a validity the card was given on purpose (an expired card), over the demo's default one. */
function stripValidity(entry: CardEntry): Partial<CardEntry> {
  const sample = sampleCard(0);
  return entry.validUntil !== sample.validUntil ? { validUntil: entry.validUntil } : {};
}
