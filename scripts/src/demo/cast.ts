import type { CardEntry } from '@educard/terminal-sdk';
import { sampleCard, sampleCardSeed, sampleCpuCard, sampleUid } from '@educard/terminal-sdk/testing';

/** A person of the demo, with the card they carry and how the simulated reader presents it. */
export interface Actor {
  name: string;
  entry?: CardEntry;
  card: { uid: string; cpu?: { cardNumber: string; seed: string } };
}

const uidCard = (entry: CardEntry): Actor['card'] => ({ uid: entry.credential.uid as string });
const cpuCard = (n: number, entry: CardEntry): Actor['card'] => ({
  uid: sampleUid(90_000 + n),
  cpu: { cardNumber: entry.cardId, seed: Buffer.from(sampleCardSeed(n)).toString('hex') },
});

function actor(name: string, entry: CardEntry, card: Actor['card'] = uidCard(entry)): Actor {
  return { name, entry: { ...entry, displayName: name }, card };
}

const liFang = sampleCpuCard(2);

export const CAST = {
  wangWei: actor('Wang Wei', sampleCard(1)),
  liFang: actor('Li Fang', liFang, cpuCard(2, liFang)),
  zhangMin: actor('Zhang Min', sampleCard(3, { status: 'lost' })),
  liuJing: actor('Liu Jing', sampleCard(4, { validUntil: '2026-07-31T23:59:59+08:00' })),
  chenLei: actor('Chen Lei', sampleCard(5, { zones: ['library'] })),
  yangYan: actor('Yang Yan', sampleCard(6, { schedules: ['boarding-night'] })),
  zhouBo: actor('Zhou Bo', sampleCard(7, { role: 'teacher', schedules: [] })),
  stranger: { name: '(not on the roster)', card: { uid: 'DEADBEEF' } } as Actor,
  /** A blank card given Li Fang's CPU card's UID: a copy that cannot sign. */
  cloner: { name: '(copy of Li Fang)', card: { uid: liFang.credential.uid as string } } as Actor,
};

export const ROSTER: CardEntry[] = Object.values(CAST).flatMap((a) => (a.entry ? [a.entry] : []));
