import { Identifier } from '@educard/terminal-sdk';
import { z } from 'zod';

/** A contract schema as a JSON Schema Fastify's Ajv takes inside a route schema (no `$schema` draft tag). */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _draft, ...json } = z.toJSONSchema(schema) as Record<string, unknown>;
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
