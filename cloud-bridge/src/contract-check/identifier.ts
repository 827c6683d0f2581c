import { Identifier } from '@educard/terminal-sdk';
import { z } from 'zod';

/**
 * A contract schema as a JSON Schema Fastify's Ajv takes inside a route schema (no `$schema` draft tag).
 * `io: 'input'` describes what a caller may send (a field with a default may be left out).
 */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> {
  const { $schema: _draft, ...json } = z.toJSONSchema(schema, { io }) as Record<string, unknown>;
  return json;
}

/**
 * The contract's `Identifier` (a school, device, card or person id) as a JSON Schema for Fastify's
 * route schemas: the one rule for an id in any path, query or body, generated from the zod schema
 * gateways and the bridge share, so the two can never drift apart.
 */
export const IdentifierJson = jsonSchemaOf(Identifier) as {
  type: 'string';
  pattern: string;
  minLength: number;
  maxLength: number;
};

/** A class as a query names it: the roster card's `class` (at most 32 characters), never empty. */
export const ClassJson = { type: 'string', minLength: 1, maxLength: 32 } as const;
