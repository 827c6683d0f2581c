import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
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
