import { EventBatch, eventHash, GENESIS_HASH, generateKeyPair, signBatch } from '@educard/terminal-sdk';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseBatch } from './batch-parser.js';

const key = generateKeyPair();

function validBatch(): Record<string, unknown> {
  const body = {
    spec: 1 as const,
    device: 'gate-01',
    seq: 1,
    at: '2026-11-23T08:00:00.000+08:00',
    clock: 'synced' as const,
    type: 'gate.decision',
    data: { personId: 'p1', decision: 'grant' },
    prev: GENESIS_HASH,
  };
  const batch = signBatch('gate-01', 'school-1', [{ ...body, hash: eventHash(body) }], key);
  return JSON.parse(JSON.stringify(batch));
}

const PATHS = [
  ['v'],
  ['device'],
  ['school'],
  ['from'],
  ['to'],
  ['head'],
  ['sentAt'],
  ['sig'],
  ['records'],
  ['records', 0],
  ['records', 0, 'spec'],
  ['records', 0, 'device'],
  ['records', 0, 'seq'],
  ['records', 0, 'at'],
  ['records', 0, 'clock'],
  ['records', 0, 'clockSource'],
  ['records', 0, 'type'],
  ['records', 0, 'data'],
  ['records', 0, 'prev'],
  ['records', 0, 'hash'],
] as const;

const interesting = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(0, -1, 1.5, 2 ** 53, '', 'a'.repeat(65), '2026-02-30T00:00:00Z', '2026-11-23T08:00:00Z'),
  fc.constantFrom(
    'synced',
    'rtc',
    'gate.x',
    'Gate.x',
    'f'.repeat(64),
    'F'.repeat(64),
    [],
    {},
    null,
    undefined,
  ),
);

describe('the fast batch parser', () => {
  // 3,000 generated batches: seconds of CPU, more on a loaded runner.
  it('accepts and refuses exactly what the contract schema does', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(fc.constantFrom(...PATHS), interesting, (path, replacement) => {
        const batch = validBatch();
        let parent = batch as Record<string | number, unknown>;
        for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>;
        const last = path.at(-1) as string | number;
        if (replacement === undefined) delete parent[last];
        else parent[last] = replacement;
        const payload = Buffer.from(JSON.stringify(batch));
        const expected = EventBatch.safeParse(JSON.parse(payload.toString())).success;
        expect(parseBatch(payload).ok).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });

  it('says why a batch is refused, in the contract’s words', () => {
    const batch = validBatch();
    (batch.records as Record<string, unknown>[])[0] = { ...(batch.records as object[])[0], seq: -1 };
    const parsed = parseBatch(Buffer.from(JSON.stringify(batch)));
    expect(parsed).toMatchObject({ ok: false, error: expect.stringMatching(/records\.0\.seq/) });
    expect(parseBatch(Buffer.from(JSON.stringify({ ...validBatch(), v: 2 })))).toMatchObject({
      ok: false,
      error: expect.stringMatching(/contract version 2/),
    });
    expect(parseBatch(Buffer.from('{'))).toEqual({ ok: false, error: 'message is not JSON' });
  });
});
