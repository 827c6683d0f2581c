import { type RosterManifest, sha256Hex } from '@educard/terminal-sdk';
import { SAMPLE_CALENDAR, SAMPLE_SCHEDULES, sampleCard } from '@educard/terminal-sdk/testing';
import { describe, expect, it } from 'vitest';
import { RosterRejected } from './errors.js';
import { verifyBody } from './verify.js';

const ISSUED = '2026-09-01T00:00:00Z';

/** A snapshot body's bytes as given, and a manifest that matches them. */
function signedAs(bytes: Buffer): [RosterManifest, Buffer] {
  const manifest = {
    school: 'school-1',
    version: 1,
    body: { kind: 'snapshot', sha256: sha256Hex(bytes), length: bytes.length },
  } as RosterManifest;
  return [manifest, bytes];
}

function snapshotText(cards: unknown[]): string {
  const frame = { kind: 'snapshot', school: 'school-1', version: 1, issuedAt: ISSUED };
  return JSON.stringify({ ...frame, calendar: SAMPLE_CALENDAR, schedules: SAMPLE_SCHEDULES, cards });
}

function refusal(run: () => unknown): RosterRejected {
  try {
    run();
  } catch (error) {
    if (error instanceof RosterRejected) return error;
    throw error;
  }
  throw new Error('not refused');
}

/** Reads every card of a verified snapshot body: its cards are checked as they are read. */
function readAll(manifest: RosterManifest, bytes: Buffer) {
  const body = verifyBody(manifest, bytes, 1 << 20);
  return body.kind === 'snapshot' ? [...body.cards] : [];
}

describe('a snapshot body', () => {
  it('gives each card whole, names in any script included', () => {
    const cards = [
      sampleCard(1, { displayName: '王小明 🦊' }),
      sampleCard(2, { displayName: 'Zoë "Z" ]},{' }),
    ];
    expect(readAll(...signedAs(Buffer.from(snapshotText(cards))))).toEqual(cards);
  });

  it('is refused when it is not UTF-8, though its digest matches', () => {
    const bytes = Buffer.from(snapshotText([sampleCard(1, { displayName: 'Zoe' })]));
    bytes[bytes.indexOf('Zoe') + 2] = 0xff;
    const error = refusal(() => readAll(...signedAs(bytes)));
    expect([error.code, error.message]).toEqual(['malformed', 'malformed: roster body is not UTF-8']);
  });

  it("is refused with each bad card's place and the contract's words, the first ten of them", () => {
    const cards = Array.from({ length: 30 }, (_, i) =>
      sampleCard(i, i % 2 ? { status: 'gone' as never } : {}),
    );
    const error = refusal(() => readAll(...signedAs(Buffer.from(snapshotText(cards)))));
    expect(error.code).toBe('malformed');
    expect(error.message).toMatch(/^malformed: roster body: cards\.1: status: .*; cards\.3: status: /);
    expect(error.message.match(/cards\.\d+:/g)).toHaveLength(10);
  });
});
