import { checkEventData, EVENT_DATA, type EventRecord } from '@educard/terminal-sdk';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { z } from 'zod';

/**
 * The contract's event data schemas (zod, in terminal-sdk) compiled by Ajv from their JSON Schema
 * form, as the batch parser does for batches: every stored record is checked on the ingest thread,
 * where zod's parse would cost a few percent of the throughput. Ajv only answers yes or no; zod words
 * the problem. `io: 'input'` keeps fields a newer peer added acceptable, as zod accepts them.
 */
const ajv = new Ajv2020({ strict: false, allErrors: false, formats: { 'date-time': true } });
const validators = new Map<string, ValidateFunction>(
  Object.entries(EVENT_DATA).map(([type, schema]) => [
    type,
    ajv.compile(z.toJSONSchema(schema as z.ZodType, { io: 'input' })),
  ]),
);

/** Why a record's data does not match its type's schema, or undefined when it does or the type is unknown. */
export function eventDataProblem(record: Pick<EventRecord, 'type' | 'data'>): string | undefined {
  const validate = validators.get(record.type);
  if (!validate || validate(record.data)) return undefined;
  return checkEventData(record) ?? 'data does not match its type';
}
