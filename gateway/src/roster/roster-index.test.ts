import type { CardEntry, RosterDelta, RosterManifest, RosterSnapshot } from '@educard/terminal-sdk';
import { SAMPLE_CALENDAR, SAMPLE_SCHEDULES, sampleCard, sampleCpuCard } from '@educard/terminal-sdk/testing';
import { describe, expect, it } from 'vitest';
import { RosterRejected } from './errors.js';
import { RosterIndex } from './roster-index.js';
import { splitSnapshot } from './snapshot-text.js';

const ISSUED = '2026-09-01T00:00:00Z';
const HASHED_UID = `~${Buffer.alloc(16, 0xa5).toString('base64url')}`;
const manifest = { issuedAt: ISSUED, expiresAt: '2026-12-31T00:00:00Z' } as RosterManifest;

function index(cards: CardEntry[]) {
  const snapshot: RosterSnapshot = {
    kind: 'snapshot',
    school: 'school-1',
    version: 1,
    issuedAt: ISSUED,
    calendar: SAMPLE_CALENDAR,
    schedules: SAMPLE_SCHEDULES,
    cards,
  };
  return new RosterIndex(snapshot, manifest);
}

function delta(index: RosterIndex, changes: RosterDelta['changes']): RosterDelta {
  return {
    kind: 'delta',
    school: 'school-1',
    fromVersion: index.version,
    version: index.version + 1,
    issuedAt: ISSUED,
    changes,
  };
}

function rejection(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof RosterRejected ? error.code : String(error);
  }
  return undefined;
}

/** A CPU card whose roster entry names no UID. */
function withoutUid(card: CardEntry): CardEntry {
  const { uid: _uid, ...credential } = card.credential as Extract<
    CardEntry['credential'],
    { kind: 'edu-cpu' }
  >;
  return { ...card, credential };
}

/** Cards of every shape the contract allows: what comes out of the index must be what went in. */
const SHAPES: CardEntry[] = [
  sampleCard(1),
  sampleCpuCard(2),
  withoutUid(sampleCpuCard(3)),
  sampleCard(4, {
    status: 'cancelled',
    statusReason: 'transferred',
    role: 'teacher',
    zones: [],
    schedules: [],
  }),
  sampleCard(5, { displayName: '王小明 "Ming" {[,]}', grade: undefined, class: undefined }),
  sampleCard(6, { displayName: '', status: 'suspended', role: 'staff', school: 'school-2' }),
  // Profiles the table's hash cannot tell apart: only their fields can.
  sampleCard(7, { grade: '1', class: '1', zones: ['main-gate', 'library'], schedules: [] }),
  sampleCard(8, { grade: '1', class: '1', zones: ['main-gate'], schedules: ['library'] }),
  sampleCard(9, { grade: '1', class: '1', zones: ['main-gatelibrary'], schedules: [] }),
  sampleCard(10, { grade: '', class: '' }),
  sampleCard(11, { grade: '', class: undefined }),
  sampleCard(12, { grade: '1', class: '1', zones: ['main-gate'], schedules: ['lib', 'rary'] }),
  // The longest name the contract allows, four bytes a character in UTF-8.
  sampleCard(13, { displayName: '😀'.repeat(64) }),
  // UIDs of every length, and a gate's hashed one: the table holds the bytes each spells.
  sampleCard(14, { credential: { kind: 'uid', uid: '04A1B2C3' } }),
  sampleCard(15, { credential: { kind: 'uid', uid: '04A1B2C3D4E5F60718FF' } }),
  sampleCard(16, { credential: { kind: 'uid', uid: HASHED_UID } }),
];
delete SHAPES[10]?.class;
for (const card of SHAPES) if (card.displayName === undefined) delete card.displayName;
delete SHAPES[4]?.grade;
delete SHAPES[4]?.class;

describe('the compact roster index', () => {
  it('gives back each card exactly as the roster had it, by number, by UID and by person', () => {
    const roster = index(SHAPES);
    expect(roster.size).toBe(SHAPES.length);
    for (const card of SHAPES) {
      expect(roster.byCardId(card.cardId)).toStrictEqual(card);
      expect(roster.byPersonId(card.personId)).toStrictEqual(card);
      if (card.credential.uid) expect(roster.byUid(card.credential.uid)).toStrictEqual(card);
    }
    expect([...roster.entries()]).toStrictEqual(SHAPES);
    expect(roster.byCardId('E999')).toBeUndefined();
    expect(roster.byUid(sampleCard(99).credential.uid as string)).toBeUndefined();
    expect(roster.byPersonId('p-nobody')).toBeUndefined();
  });

  it('hands out copies: changing an entry changes nothing in the index', () => {
    const roster = index([sampleCard(1), sampleCard(2)]);
    (roster.byCardId(sampleCard(1).cardId) as CardEntry).zones.push('staff-room');
    expect(roster.byCardId(sampleCard(1).cardId)?.zones).toEqual(sampleCard(1).zones);
    expect(roster.byCardId(sampleCard(2).cardId)?.zones).toEqual(sampleCard(2).zones);
  });

  it('refuses a card whose UID or key is not spelled as the contract spells one, and finds no such spelling', () => {
    const lower = sampleCard(1, { credential: { kind: 'uid', uid: '04a1b2c3' } });
    expect(rejection(() => index([lower]))).toBe('malformed');
    const stray = sampleCpuCard(2);
    (stray.credential as { publicKey: string }).publicKey =
      `${Buffer.alloc(32, 1).toString('base64url').slice(0, -1)}B`;
    expect(rejection(() => index([stray]))).toBe('malformed');
    const roster = index(SHAPES);
    expect(roster.byUid('04a1b2c3')).toBeUndefined();
    expect(roster.byUid(`${HASHED_UID.slice(0, -1)}B`)).toBeUndefined();
    expect(roster.byUid(`${HASHED_UID}A`)).toBeUndefined();
    expect(roster.byUid('x'.repeat(300))).toBeUndefined();
  });

  it('refuses a snapshot with a card twice or a UID on two cards', () => {
    expect(rejection(() => index([sampleCard(1), sampleCard(2), sampleCard(1)]))).toBe('inconsistent');
    const copy = sampleCard(3, { credential: { kind: 'uid', uid: sampleCard(1).credential.uid as string } });
    expect(rejection(() => index([sampleCard(1), copy]))).toBe('inconsistent');
  });

  it('lets two cards swap UIDs in one delta, and a lost card keep its UID', () => {
    const roster = index([sampleCard(1), sampleCard(2), sampleCard(3)]);
    const [a, b] = [sampleCard(1), sampleCard(2)];
    roster.apply(
      delta(roster, [
        { op: 'update', card: { ...a, credential: b.credential } },
        { op: 'update', card: { ...b, credential: a.credential } },
        { op: 'revoke', cardId: sampleCard(3).cardId, status: 'lost' },
      ]),
      manifest,
    );
    expect(roster.byUid(b.credential.uid as string)?.cardId).toBe(a.cardId);
    expect(roster.byUid(a.credential.uid as string)?.cardId).toBe(b.cardId);
    expect(roster.byUid(sampleCard(3).credential.uid as string)?.status).toBe('lost');
    const taken = sampleCard(4, { credential: a.credential });
    expect(rejection(() => roster.apply(delta(roster, [{ op: 'add', card: taken }]), manifest))).toBe(
      'inconsistent',
    );
    expect(roster.version).toBe(2);
  });

  it('packs the roster again once deltas have changed many cards, and answers the same before and after', () => {
    const roster = index(Array.from({ length: 6000 }, (_, i) => sampleCard(i)));
    const moved = (i: number) =>
      sampleCard(i, { credential: { kind: 'uid', uid: sampleCard(100_000 + i).credential.uid as string } });
    // 3,000 changes stay beside the packed cards; the next 3,000 pass the threshold and pack them all.
    roster.apply(
      delta(
        roster,
        Array.from({ length: 3000 }, (_, i) => ({ op: 'update' as const, card: moved(i) })),
      ),
      manifest,
    );
    const check = () => {
      expect(roster.size).toBe(9000);
      expect(roster.byUid(sampleCard(0).credential.uid as string)).toBeUndefined();
      expect(roster.byUid(sampleCard(100_000).credential.uid as string)?.cardId).toBe(sampleCard(0).cardId);
      expect(roster.byCardId(sampleCard(5999).cardId)).toStrictEqual(sampleCard(5999));
      expect(roster.byCardId(sampleCard(6000).cardId)).toStrictEqual(sampleCard(6000));
    };
    roster.apply(
      delta(
        roster,
        Array.from({ length: 3000 }, (_, i) => ({ op: 'add' as const, card: sampleCard(6000 + i) })),
      ),
      manifest,
    );
    check();
    roster.apply(delta(roster, [{ op: 'revoke', cardId: sampleCard(1).cardId, status: 'lost' }]), manifest);
    check();
    expect(roster.byPersonId(sampleCard(1).personId)?.status).toBe('lost');
    expect([...roster.entries()]).toHaveLength(9000);
  });
});

describe('reading a snapshot one card at a time', () => {
  const text = (cards: string) => `{"kind":"snapshot","school":"s","cards":${cards},"version":1}`;
  const bytes = (cards: string) => Buffer.from(text(cards));

  it('finds each card, whatever its strings hold', () => {
    const split = splitSnapshot(bytes(' [ {"a":"]}\\"{"} , {"b":[1,{"c":2}]} ] '));
    expect(split.count).toBe(2);
    expect([...split.cards]).toEqual([{ a: ']}"{' }, { b: [1, { c: 2 }] }]);
    expect(split.frame).toEqual({ kind: 'snapshot', school: 's', cards: [], version: 1 });
    expect(splitSnapshot(bytes('[]')).count).toBe(0);
  });

  it('reads characters of several bytes whole, wherever the cards fall', () => {
    const names = ['Zoë', '李小龙', '🦊 "fox" ]}', 'Ça'];
    const split = splitSnapshot(bytes(JSON.stringify(names.map((displayName) => ({ displayName })))));
    expect([...split.cards]).toEqual(names.map((displayName) => ({ displayName })));
  });

  it('refuses what is not JSON, and a second list of cards', () => {
    for (const bad of [
      text('[{"a":1} {"b":2}]'),
      text('[{"a":1},]'),
      text('[{"a":"1}]'),
      `${text('[]')} trailing`,
      '{"cards":[],"cards":[]}',
      '{"kind":"snapshot"}',
      '{"cards":{}}',
      '["cards"]',
    ]) {
      expect(
        rejection(() => splitSnapshot(Buffer.from(bad))),
        bad,
      ).toBe('malformed');
    }
  });
});
