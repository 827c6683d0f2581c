import { EventBatch, MAX_MESSAGE_BYTES, parseMessage } from '@educard/terminal-sdk';
import { compileSchema } from '../contract-check/index.js';

/** The contract's EventBatch schema, compiled for the ingest's hot path (see compileSchema). */
const validate = compileSchema(EventBatch);

export type ParsedBatch = ReturnType<typeof parseMessage<EventBatch>>;

/**
 * An event batch off the wire. A batch Ajv accepts is returned as parsed; anything else goes through
 * zod, whose messages say what is wrong (and which version a foreign peer speaks).
 */
export function parseBatch(payload: Uint8Array): ParsedBatch {
  if (payload.length <= MAX_MESSAGE_BYTES) {
    let value: unknown;
    try {
      value = JSON.parse(
        Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'),
      );
    } catch {
      return { ok: false, error: 'message is not JSON' };
    }
    if (validate(value))
      return { ok: true, value: value as EventBatch, raw: value as Record<string, unknown> };
  }
  return parseMessage(EventBatch, payload);
}
