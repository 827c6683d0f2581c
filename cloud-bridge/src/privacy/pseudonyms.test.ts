import { type EventRecord, eventHash, personPseudonym } from '@educard/terminal-sdk';
import { SAMPLE_PERSON_KEY, sampleCard } from '@educard/terminal-sdk/testing';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { asJournaled, PersonPseudonyms } from './pseudonyms.js';

const holder = sampleCard(1);
const OTHER_KEY = new Uint8Array(32).fill(7);

function record(data: Record<string, unknown>): EventRecord {
  const unhashed = {
    spec: 1 as const,
    device: 'gate-01',
    seq: 1,
    at: '2026-09-07T07:30:00.000Z',
    clock: 'synced' as const,
    type: 'gate.decision',
    data,
    prev: '0'.repeat(64),
  };
  return { ...unhashed, hash: eventHash(unhashed) };
}

const pseudonyms = (onUnresolved = () => undefined) =>
  new PersonPseudonyms({
    store: { findCard: (cardId) => (cardId === holder.cardId ? holder : undefined) },
    personKey: (school) => (school === 'school-1' ? SAMPLE_PERSON_KEY : OTHER_KEY),
    logger: pino({ level: 'silent' }),
    onUnresolved,
  });

describe('person pseudonyms at ingest', () => {
  it("maps a gate's pseudonym back to the card's holder, and keeps what the gate hashed", () => {
    const sent = record({
      cardId: holder.cardId,
      personId: personPseudonym(SAMPLE_PERSON_KEY, holder.personId),
    });
    const [stored] = pseudonyms().resolve('school-1', [sent]);
    expect(stored?.data.personId).toBe(holder.personId);
    expect(asJournaled(stored as EventRecord)).toEqual(sent);
    expect(eventHash(asJournaled(stored as EventRecord))).toBe(sent.hash);
  });

  it('keeps a pseudonym that is not its card holder under this school key, or of an unknown card, and counts it', () => {
    let unresolved = 0;
    const resolver = pseudonyms(() => {
      unresolved += 1;
    });
    const pseudonym = personPseudonym(SAMPLE_PERSON_KEY, holder.personId);
    const elsewhere = record({ cardId: holder.cardId, personId: pseudonym });
    const unknown = record({ cardId: 'E999999999', personId: pseudonym });
    expect(resolver.resolve('school-2', [elsewhere])).toEqual([elsewhere]);
    expect(resolver.resolve('school-1', [unknown])).toEqual([unknown]);
    expect(unresolved).toBe(2);
  });

  it("leaves a desk's or an older gate's records as they are", () => {
    const records = [record({ cardId: holder.cardId, personId: holder.personId }), record({ reader: 'r1' })];
    expect(pseudonyms().resolve('school-1', records)).toBe(records);
    expect(asJournaled(records[0] as EventRecord)).toBe(records[0]);
  });
});
