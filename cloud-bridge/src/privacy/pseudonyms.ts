import { type EventRecord, PSEUDONYM_PREFIX, personPseudonym } from '@educard/terminal-sdk';
import type { Logger } from 'pino';
import type { BridgeStore } from '../store/index.js';

export interface PseudonymDeps {
  store: Pick<BridgeStore, 'findCard'>;
  /** The school's person key (RosterKeyring.personKey): what its gate rosters' pseudonyms are made under. */
  personKey: (school: string) => Uint8Array;
  logger: Logger;
  /** Counts a pseudonym that matched no card's holder (the bridge's metric). */
  onUnresolved: () => void;
}

/**
 * Gives the bridge back the person behind a gate's pseudonym. A gate holds and journals `psn-…` in
 * place of a person id (personPseudonym); its events name the card too, so the person is the card's
 * holder, checked by making the pseudonym again under the gate's school key: a pseudonym that does
 * not match its card is kept as it came and logged, never guessed. The record keeps what the device
 * wrote as `data.personPseudonym`, so the record as the device hashed it is the stored one with
 * `personId` set back to it and that field dropped (the central system can check the chain).
 * An event from a desk, or from a gate before pseudonyms, names the person already and is untouched.
 */
export class PersonPseudonyms {
  constructor(private readonly deps: PseudonymDeps) {}

  /** The records with each pseudonym replaced by its person; the same array when there is none. */
  resolve(school: string, records: EventRecord[]): EventRecord[] {
    if (!records.some(named)) return records;
    const key = this.deps.personKey(school);
    return records.map((record) => (named(record) ? this.resolved(school, key, record) : record));
  }

  private resolved(school: string, key: Uint8Array, record: EventRecord): EventRecord {
    const pseudonym = record.data.personId as string;
    const cardId = record.data.cardId;
    const card = typeof cardId === 'string' ? this.deps.store.findCard(cardId) : undefined;
    if (!card || personPseudonym(key, card.personId) !== pseudonym) {
      this.deps.onUnresolved();
      this.deps.logger.warn(
        { device: record.device, seq: record.seq, type: record.type, school },
        'a gate named a person the bridge cannot map back (unknown card, or another school key): kept as it came',
      );
      return record;
    }
    return { ...record, data: { ...record.data, personId: card.personId, personPseudonym: pseudonym } };
  }
}

const named = (record: EventRecord): boolean => {
  const personId = record.data.personId;
  return typeof personId === 'string' && personId.startsWith(PSEUDONYM_PREFIX);
};

/** The record as its device hashed it, from the stored one a pseudonym was mapped back in. */
export function asJournaled(record: EventRecord): EventRecord {
  const { personPseudonym: pseudonym, ...data } = record.data;
  if (typeof pseudonym !== 'string') return record;
  return { ...record, data: { ...data, personId: pseudonym } };
}
