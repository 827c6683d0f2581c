import { describe, expect, it } from 'vitest';
import { CardEntry, RosterDelta, type RosterSnapshot } from '../contract/roster.js';
import {
  SAMPLE_GATE_KEYS,
  SAMPLE_PERSON_KEY,
  SAMPLE_UID_KEY,
  sampleCard,
  sampleCpuCard,
} from '../testing/index.js';
import { hashUid, personPseudonym, rosterVariantBody, rosterVariantFor, uidKeyOf } from './index.js';

describe('roster variants', () => {
  it('hashes a UID as documented, so that another vendor reader can look cards up', () => {
    // HMAC-SHA-256 under 32 bytes of 0x5a of the ASCII "04A1B2C3D4E5F6", first 16 bytes, base64url.
    expect(hashUid(SAMPLE_UID_KEY, '04A1B2C3D4E5F6')).toBe('~PdD24Z6cNFO6rEmMoCiwUg');
    expect(
      CardEntry.parse(
        sampleCard(1, { credential: { kind: 'uid', uid: hashUid(SAMPLE_UID_KEY, 'A1B2C3D4') } }),
      ),
    ).toBeDefined();
  });

  it('names a person on a gate by a keyed pseudonym that is a valid person id, the same for every card of theirs', () => {
    const pseudonym = personPseudonym(SAMPLE_PERSON_KEY, 'S-2026-0001');
    expect(pseudonym).toMatch(/^psn-[A-Za-z0-9_-]{22}$/);
    expect(personPseudonym(SAMPLE_PERSON_KEY, 'S-2026-0001')).toBe(pseudonym);
    expect(personPseudonym(SAMPLE_UID_KEY, 'S-2026-0001')).not.toBe(pseudonym);
    expect(CardEntry.parse(sampleCard(1, { personId: pseudonym })).personId).toBe(pseudonym);
  });

  it('gives a gate no name, grade or class, hashed UIDs and pseudonyms; a desk the whole card', () => {
    const cards = [sampleCard(1), sampleCpuCard(2)];
    const snapshot: RosterSnapshot = {
      kind: 'snapshot',
      school: 'school-1',
      version: 1,
      issuedAt: '2026-09-01T00:00:00Z',
      calendar: { timeZone: 'Asia/Shanghai', holidays: [], closures: [], makeUpDays: [] },
      schedules: [],
      cards,
    };
    const gate = rosterVariantBody(snapshot, 'gate', SAMPLE_GATE_KEYS);
    expect(uidKeyOf(gate)).toEqual(SAMPLE_UID_KEY);
    expect(JSON.stringify(gate)).not.toMatch(/displayName|grade|class/);
    expect(gate.cards.map((card) => card.credential.uid)).toEqual(
      cards.map((card) => hashUid(SAMPLE_UID_KEY, card.credential.uid as string)),
    );
    expect(gate.cards.map((card) => card.personId)).toEqual(
      cards.map((card) => personPseudonym(SAMPLE_PERSON_KEY, card.personId)),
    );
    expect(JSON.stringify(gate)).not.toContain(`"${cards[0]?.personId}"`);
    expect(gate.cards[1]?.credential).toMatchObject({
      kind: 'edu-cpu',
      publicKey: (sampleCpuCard(2).credential as { publicKey: string }).publicKey,
    });
    expect(rosterVariantBody(snapshot, 'desk', SAMPLE_GATE_KEYS)).toBe(snapshot);

    const delta = RosterDelta.parse({
      kind: 'delta',
      school: 'school-1',
      fromVersion: 1,
      version: 2,
      issuedAt: '2026-09-02T00:00:00Z',
      changes: [
        { op: 'add', card: sampleCard(3) },
        { op: 'revoke', cardId: sampleCard(1).cardId, status: 'lost' },
      ],
    });
    const gateDelta = rosterVariantBody(delta, 'gate', SAMPLE_GATE_KEYS);
    expect(gateDelta.changes[0]).toMatchObject({
      op: 'add',
      card: { credential: { uid: hashUid(SAMPLE_UID_KEY, sampleCard(3).credential.uid as string) } },
    });
    expect(gateDelta.changes[1]).toEqual(delta.changes[1]);
    expect(RosterDelta.parse(gateDelta)).toEqual(gateDelta);
  });

  it('sends gates and venues the gate roster, desks and computer rooms the desk roster', () => {
    expect(['gate', 'venue', 'library', 'lab'].map((type) => rosterVariantFor(type as 'gate'))).toEqual([
      'gate',
      'gate',
      'desk',
      'desk',
    ]);
  });
});
