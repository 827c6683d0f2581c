import type { CardEntry, EventRecord } from '@educard/terminal-sdk';
import { SAMPLE_MONDAY, sampleCard } from '@educard/terminal-sdk/testing';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../log/index.js';
import { LabRoom } from './room.js';

// The room as the journal makes it: records in, state out, no clock and no IO. Times derive from the
// sample fixtures' Monday (08:00 in Asia/Shanghai).

const HOUR = 3_600_000;
const AT = SAMPLE_MONDAY + HOUR;
const ann = sampleCard(1);
const bo = sampleCard(2);
const cards = new Map<string, CardEntry>([ann, bo].map((card) => [card.cardId, card]));
let seq = 0;

function room() {
  return new LabRoom({
    station: 'lab-1',
    seats: ['pc-01', 'pc-02'],
    closing: 17 * 60,
    timeZone: () => 'Asia/Shanghai',
    card: (cardId) => cards.get(cardId),
    nameOf: (personId) => [ann, bo].find((card) => card.personId === personId)?.displayName,
    logger: createLogger('lab-room-test', { level: 'silent' }),
  });
}

function record(type: string, at: number, data: Record<string, unknown>): EventRecord {
  seq += 1;
  return {
    spec: 1,
    device: 'gw-1',
    seq,
    at: new Date(at).toISOString(),
    clock: 'synced',
    type,
    data: { station: 'lab-1', ...data },
    prev: '0'.repeat(64),
    hash: '0'.repeat(64),
  };
}

const signIn = (card: CardEntry, seat: string, at = AT, sessionId = `s-${card.personId}`) =>
  record('lab.signin', at, {
    sessionId,
    personId: card.personId,
    cardId: card.cardId,
    seat,
    limitMinutes: 45,
  });
const signOut = (card: CardEntry, seat: string, sessionId = `s-${card.personId}`) =>
  record('lab.signout', AT + HOUR, {
    sessionId,
    personId: card.personId,
    seat,
    minutes: 60,
    reason: 'tap',
  });

describe('a computer room made by its journal', () => {
  it('seats a sign-in with its limit, the name and class the roster gives, and frees the seat at its sign-out', () => {
    const lab = room();
    expect(lab.apply(signIn(ann, 'pc-02'))).toMatchObject({ kind: 'signin' });
    expect(lab.sessionAt('pc-02')).toMatchObject({
      personId: ann.personId,
      displayName: ann.displayName,
      class: ann.class,
      endsAt: AT + 45 * 60_000,
      endsBy: 'limit',
    });
    expect(lab.freeSeat()).toBe('pc-01');
    expect(lab.apply(signOut(ann, 'pc-02'))).toMatchObject({ kind: 'signout' });
    expect(lab.sessionOf(ann.personId)).toBeUndefined();
    expect(lab.size).toBe(0);
  });

  it('ends a session at closing time when its limit would run past it', () => {
    const lab = room();
    lab.apply(signIn(bo, 'pc-01', SAMPLE_MONDAY + 8.5 * HOUR));
    expect(lab.sessionOf(bo.personId)).toMatchObject({
      endsAt: SAMPLE_MONDAY + 9 * HOUR,
      endsBy: 'closing',
    });
  });

  it('moves a person who signs in again, and ignores a sign-out of a session already replaced', () => {
    const lab = room();
    lab.apply(signIn(ann, 'pc-01', AT, 'first'));
    lab.apply(signIn(ann, 'pc-02', AT + 60_000, 'second'));
    expect(lab.sessionAt('pc-01')).toBeUndefined();
    expect(lab.sessionOf(ann.personId)?.seat).toBe('pc-02');
    expect(lab.apply(signOut(ann, 'pc-01', 'first'))).toBeUndefined();
    expect(lab.sessionOf(ann.personId)?.sessionId).toBe('second');
  });

  it("takes nothing from another station's records, an unknown seat or a malformed record", () => {
    const lab = room();
    const elsewhere = signIn(ann, 'pc-01');
    elsewhere.data.station = 'lab-2';
    expect(lab.apply(elsewhere)).toBeUndefined();
    expect(lab.apply(signIn(ann, 'pc-99'))).toBeUndefined();
    expect(lab.apply(record('lab.signin', AT, { personId: ann.personId }))).toBeUndefined();
    expect(lab.apply(record('gate.decision', AT, {}))).toBeUndefined();
    expect(lab.size).toBe(0);
  });

  it("keeps one booking per id, the newest record's times, and forgets yesterday's", () => {
    const lab = room();
    const booking = (until: number) =>
      record('lab.booking', AT, {
        bookingId: 'b-1',
        teacherPersonId: bo.personId,
        class: '3',
        from: new Date(AT).toISOString(),
        until: new Date(until).toISOString(),
      });
    lab.apply(booking(AT + HOUR));
    lab.apply(booking(AT + 30 * 60_000));
    expect(lab.bookings()).toEqual([
      expect.objectContaining({ bookingId: 'b-1', teacher: bo.displayName, until: AT + 30 * 60_000 }),
    ]);
    expect(lab.bookingAt(AT + 10 * 60_000)?.class).toBe('3');
    expect(lab.bookingAt(AT + 40 * 60_000)).toBeUndefined();
    lab.forgetBookingsBefore(AT + 24 * HOUR);
    expect(lab.bookings()).toEqual([]);
  });
});
