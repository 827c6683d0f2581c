import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { generateKeyPair } from '../crypto/index.js';
import { chainRecords } from '../testing/records.js';
import { signBatch, verifyBatchSignature } from './batch.js';
import { DeviceState, EventAck, EventBatch, parseMessage } from './messages.js';

/** JSON a hostile peer can send: any value, with the keys that trip code which treats objects as strings. */
const hostile = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue(),
    fc.dictionary(
      fc.constantFrom('toString', 'valueOf', 'constructor', '__proto__', 'v', 'toJSON'),
      tie('value'),
      {
        maxKeys: 3,
      },
    ),
  ),
})).value;

const payloadOf = (value: unknown) => Buffer.from(JSON.stringify({ v: value, device: 'gate-01' }));

describe('parseMessage', () => {
  it('never throws, whatever a peer puts in the version or the body', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<z.ZodType>(DeviceState, EventBatch, EventAck),
        hostile,
        hostile,
        (schema, version, body) => {
          const outcomes = [
            parseMessage(schema, payloadOf(version)),
            parseMessage(schema, Buffer.from(JSON.stringify(body) ?? 'null')),
          ];
          for (const outcome of outcomes) {
            if (!outcome.ok) expect(outcome.error).toEqual(expect.any(String));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('names a version it cannot print as a string without calling its methods', () => {
    expect(parseMessage(EventAck, payloadOf({ toString: '' }))).toEqual({
      ok: false,
      error: 'message is contract version {"toString":""}, this peer speaks 1',
    });
    expect(parseMessage(EventAck, payloadOf('2'))).toMatchObject({
      error: expect.stringMatching(/version "2"/),
    });
    expect(parseMessage(EventAck, Buffer.from('null'))).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^\(root\): /),
    });
  });
});

describe('a batch that declares records the device lost', () => {
  const key = generateKeyPair();
  const records = chainRecords(
    'gate-01',
    [{ type: 'door.exit-request', at: '2026-11-23T00:00:00.000Z', data: {} }],
    {
      seq: 91,
      hash: 'a'.repeat(64),
    },
  );
  const lost = { firstSeq: 84, lastSeq: 91, cause: 'unreadable' as const, damagedSeq: 130 };

  it('binds the declaration under the device signature: a broker cannot alter it', async () => {
    const batch = signBatch('gate-01', 'school-1', records, key, lost);
    const parsed = parseMessage(EventBatch, Buffer.from(JSON.stringify(batch)));
    expect(parsed).toMatchObject({ ok: true, value: { lost } });
    await expect(verifyBatchSignature(batch, key.publicKey)).resolves.toBe(true);
    const widened = { ...batch, lost: { ...lost, firstSeq: 1 } };
    await expect(verifyBatchSignature(widened, key.publicKey)).resolves.toBe(false);
  });

  it('is read by a peer of the previous version, which keeps the field it does not know under the signature', async () => {
    const previous = EventBatch.omit({ lost: true });
    const batch = signBatch('gate-01', 'school-1', records, key, lost);
    const parsed = parseMessage(previous, Buffer.from(JSON.stringify(batch)));
    expect(parsed.ok).toBe(true);
    const raw = (parsed as unknown as { raw: Record<string, unknown> & { sig: string } }).raw;
    expect(raw.lost).toEqual(lost);
    await expect(verifyBatchSignature(raw, key.publicKey)).resolves.toBe(true);
  });

  it('and a device state with its storage is read by one that strips it', () => {
    const state = {
      v: 1,
      device: 'gate-01',
      school: 'school-1',
      online: true,
      bdSeq: 3,
      storage: { diskLow: true, diskFull: true, held: 10, maxHeld: 50_000, lost: 0, quarantined: 1 },
    };
    expect(
      parseMessage(DeviceState.omit({ storage: true }), Buffer.from(JSON.stringify(state))),
    ).toMatchObject({
      ok: true,
      value: { bdSeq: 3 },
    });
    expect(parseMessage(DeviceState, Buffer.from(JSON.stringify(state)))).toMatchObject({
      ok: true,
      value: { storage: state.storage },
    });
  });
});
