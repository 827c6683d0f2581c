import { describe, expect, it } from 'vitest';
import { sampleCard } from '../testing/index.js';
import { PublicKey } from './common.js';
import { DenyReason } from './events.js';
import { CardEntry, HashedUid, RosterDelta } from './roster.js';

describe('a card transferred to another school', () => {
  const moved = { ...sampleCard(1), status: 'cancelled', statusReason: 'transferred' };

  it('is a cancelled card with its reason, denied as transferred', () => {
    expect(CardEntry.parse(moved)).toEqual(moved);
    expect(DenyReason.parse(CardEntry.parse(moved).statusReason)).toBe('transferred');
    expect(CardEntry.safeParse({ ...moved, statusReason: 'expelled' }).success).toBe(false);
  });

  it('reads as a plain cancelled card to a peer of the previous contract version', () => {
    // The previous version's card entry is this one without the field: a delta carrying the transfer
    // is still valid for it, and its gate denies the card as cancelled instead of refusing the roster.
    const previous = CardEntry.omit({ statusReason: true });
    const delta = RosterDelta.parse({
      kind: 'delta',
      school: 'school-1',
      fromVersion: 1,
      version: 2,
      issuedAt: '2026-11-23T00:00:00Z',
      changes: [{ op: 'update', card: moved }],
    });
    const change = delta.changes[0] as { op: 'update'; card: unknown };
    const { statusReason: _reason, ...asBefore } = moved;
    expect(previous.parse(change.card)).toEqual(asBefore);
    expect(previous.parse(change.card).status).toBe('cancelled');
  });
});

describe('keys and hashed UIDs on a card', () => {
  it('are taken only in canonical base64url, the one spelling a gateway stores as bytes and reads back', () => {
    const key = Buffer.alloc(32, 7).toString('base64url');
    const uid = `~${Buffer.alloc(16, 7).toString('base64url')}`;
    expect(PublicKey.safeParse(key).success).toBe(true);
    expect(HashedUid.safeParse(uid).success).toBe(true);
    // The same bytes with bits set past the last byte: base64url decoders read them alike.
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const loose = (text: string) =>
      `${text.slice(0, -1)}${ALPHABET[ALPHABET.indexOf(text.at(-1) as string) + 1]}`;
    expect(Buffer.from(loose(key), 'base64url')).toEqual(Buffer.from(key, 'base64url'));
    expect(PublicKey.safeParse(loose(key)).success).toBe(false);
    expect(HashedUid.safeParse(loose(uid)).success).toBe(false);
  });
});
