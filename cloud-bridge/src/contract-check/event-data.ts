import { checkEventData, EVENT_DATA, type EventRecord } from '@educard/terminal-sdk';
import type { z } from 'zod';
import { compileSchema } from './compile.js';

/** Every stored record's data is checked against its type's schema, on the ingest thread. */
const validators = new Map(
  Object.entries(EVENT_DATA).map(([type, schema]) => [type, compileSchema(schema as z.ZodType, 'input')]),
);

/** Why a record's data does not match its type's schema, or undefined when it does or the type is unknown. */
export function eventDataProblem(record: Pick<EventRecord, 'type' | 'data'>): string | undefined {
  const validate = validators.get(record.type);
  if (!validate || validate(record.data)) return undefined;
  return checkEventData(record) ?? 'data does not match its type';
}
