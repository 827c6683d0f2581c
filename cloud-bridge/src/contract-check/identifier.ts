import { Identifier } from '@educard/terminal-sdk';
import { z } from 'zod';

const { $schema: _draft, ...identifier } = z.toJSONSchema(Identifier) as Record<string, unknown>;

/**
 * The contract's `Identifier` (a school, device, card or person id) as a JSON Schema for Fastify's
 * route schemas: the one rule for an id in any path, query or body, generated from the zod schema
 * gateways and the bridge share, so the two can never drift apart.
 */
export const IdentifierJson = identifier as {
  type: 'string';
  pattern: string;
  minLength: number;
  maxLength: number;
};
