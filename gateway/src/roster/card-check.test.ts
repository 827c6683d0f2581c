import { CardEntry } from '@educard/terminal-sdk';
import { sampleCard, sampleCpuCard } from '@educard/terminal-sdk/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkCard } from './card-check.js';

const FIELDS = [
  'cardId',
  'personId',
  'role',
  'school',
  'grade',
  'class',
  'status',
  'statusReason',
  'validFrom',
  'validUntil',
  'zones',
  'schedules',
  'displayName',
  'credential',
] as const;

/** Values near the edges of the contract's rules: lengths, patterns, dates, kinds, and astral characters. */
const interesting = fc.oneof(
  fc.jsonValue(),
  fc.string(),
  fc.constantFrom(
    '',
    'a',
    'a'.repeat(32),
    'a'.repeat(33),
    'a'.repeat(64),
    'a'.repeat(65),
    '🦊'.repeat(16),
    '🦊'.repeat(17),
    '🦊'.repeat(32),
    '🦊'.repeat(33),
    '-a',
    'a b',
    'student',
    'cancelled',
    'transferred',
    '2026-02-29T00:00:00Z',
    '2028-02-29T00:00:00+08:00',
    '2026-09-01T00:00:00',
    '2026-09-01T24:00:00Z',
    '0A1B2C3D',
    '0a1b2c3d',
    `~${'A'.repeat(22)}`,
    'A'.repeat(43),
  ),
  fc.constantFrom([], ['main-gate'], [''], Array(17).fill('x'), Array(65).fill('x'), { kind: 'uid' }),
  fc.record({
    kind: fc.constantFrom('uid', 'edu-cpu', 'other'),
    uid: fc.constantFrom('0A1B2C3D', '0A1B2C3D0A1B2C', `~${'b'.repeat(22)}`, 'zz', undefined),
    publicKey: fc.constantFrom('A'.repeat(43), 'A'.repeat(42), undefined),
    extra: fc.constantFrom(1, undefined),
  }),
  fc.constant(undefined),
);

describe('checking a roster card', () => {
  it('takes and refuses exactly the cards the contract schema does', () => {
    fc.assert(
      fc.property(
        fc.nat(99).map((n) => (n % 2 ? sampleCpuCard(n) : sampleCard(n))),
        fc.oneof(fc.constantFrom(...FIELDS), fc.string()),
        interesting,
        (card, key, replacement) => {
          const value: Record<string, unknown> = { ...card };
          if (replacement === undefined) delete value[key];
          else value[key] = replacement;
          const json = JSON.parse(JSON.stringify(value));
          const checked = checkCard(json);
          const zod = CardEntry.safeParse(json);
          expect('problem' in checked, JSON.stringify(json)).toBe(!zod.success);
        },
      ),
      { numRuns: 4000 },
    );
  });

  it('counts lengths as the contract does, in characters', () => {
    // 32 foxes are 64 UTF-16 code units, and still 32 characters: a grade's most.
    expect(checkCard({ ...sampleCard(1), grade: '🦊'.repeat(32) })).not.toHaveProperty('problem');
    expect(checkCard({ ...sampleCard(1), grade: '🦊'.repeat(33) })).toEqual({
      problem: expect.stringMatching(/^grade: /),
    });
  });

  it("words a refusal as the contract's schema does, and lets a newer peer's field through", () => {
    expect(checkCard({ ...sampleCard(1), status: 'gone' })).toEqual({
      problem: expect.stringMatching(/^status: /),
    });
    expect(checkCard({ ...sampleCard(1), badge: 'gold' })).toMatchObject({ cardId: sampleCard(1).cardId });
  });
});
