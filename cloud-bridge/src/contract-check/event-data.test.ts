import { checkEventData } from '@educard/terminal-sdk';
import { gateDecisionData } from '@educard/terminal-sdk/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventDataProblem } from './event-data.js';

/** One well-formed record of several known types. */
const SAMPLES: { type: string; data: Record<string, unknown> }[] = [
  { type: 'gate.decision', data: gateDecisionData({ personId: 'p1', cardStatus: 'active' }) },
  { type: 'door.forced', data: { station: 'gate-main', zone: 'main-gate', openForMs: 0 } },
  {
    type: 'door.emergency-restored',
    data: { station: 'gate-main', zone: 'main-gate', releasedForMs: 5000 },
  },
  { type: 'journal.disk-low', data: { freeBytes: 1, budgetBytes: 2 } },
  { type: 'reader.fault', data: { reader: 'sim-in', message: 'gone' } },
  { type: 'roster.applied', data: { version: 3, kind: 'delta' } },
  { type: 'roster.rejected', data: { reason: 'expired', version: 2 } },
  {
    type: 'library.checkout',
    data: {
      station: 'desk-1',
      loanId: 'desk-1:7',
      personId: 'p1',
      itemId: 'B0001',
      dueAt: '2026-12-07T16:00:00.000Z',
      source: 'local',
    },
  },
];

const interesting = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(0, -1, 1.5, 2 ** 53, '', 'a'.repeat(600), '2026-02-30T00:00:00Z', 'grant', 'snapshot'),
  fc.constantFrom([], {}, null, undefined, { toString: '' }, ['uid-only'], ['nope']),
);

describe('the fast event data check', () => {
  it('accepts and refuses exactly what the contract schema does', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SAMPLES),
        fc.oneof(
          fc.constantFrom('station', 'decision', 'flags', 'version', 'dueAt', 'reason', 'releasedForMs'),
          fc.string(),
        ),
        interesting,
        (sample, key, replacement) => {
          const data: Record<string, unknown> = { ...sample.data };
          if (replacement === undefined) delete data[key];
          else data[key] = replacement;
          const record = { type: sample.type, data: JSON.parse(JSON.stringify(data)) };
          expect(eventDataProblem(record) === undefined).toBe(checkEventData(record) === undefined);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("words a refusal as the contract's schema does, and leaves unknown types alone", () => {
    for (const sample of SAMPLES) expect(eventDataProblem(sample)).toBeUndefined();
    expect(eventDataProblem({ type: 'roster.applied', data: { version: 0, kind: 'delta' } })).toMatch(
      /^version: /,
    );
    expect(eventDataProblem({ type: 'gate.newer-kind', data: { anything: [1] } })).toBeUndefined();
  });
});
