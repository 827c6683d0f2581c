import type { FastifyRequest, FastifySchema } from 'fastify';
import type { z } from 'zod';
import { jsonSchemaOf } from './identifier.js';

/** The zod schemas of a route's parts, built from the contract's (`Identifier`, `IsoTime`, …). */
export interface RouteSchemas {
  params?: z.ZodType;
  querystring?: z.ZodType;
  body?: z.ZodType;
}

type PartOf<S, K extends keyof RouteSchemas> = S extends { [P in K]: infer T }
  ? z.output<T & z.ZodType>
  : unknown;

/**
 * What a route's handler receives once Fastify has checked it against {@link routeSchema}: the types
 * come from the same zod schemas as the check, so a handler reads `request.params` without a cast.
 */
export interface RouteTypes<S extends RouteSchemas> {
  Params: PartOf<S, 'params'>;
  Querystring: PartOf<S, 'querystring'>;
  Body: PartOf<S, 'body'>;
}

/**
 * The one way a bridge route gets its schema: each part's zod schema as the JSON Schema Fastify's Ajv
 * checks before the handler runs (a default filled in, a query's numbers read as numbers). The schemas
 * hold no refinements or transforms, which JSON Schema cannot say, so the check Ajv makes is the zod
 * schema's own and the handler's types are its output. A body the schema lets a caller leave out (a
 * `prefault({})`) is checked as the `{}` it stands for.
 */
export function routeSchema(schemas: RouteSchemas): {
  schema: FastifySchema;
  preValidation?: (request: FastifyRequest) => Promise<void>;
} {
  const schema: Record<string, unknown> = {};
  for (const [part, zod] of Object.entries(schemas) as [keyof RouteSchemas, z.ZodType][]) {
    // A default for the whole part is the preValidation's below: Ajv ignores one at a schema's root.
    const { default: _whole, ...json } = jsonSchemaOf(zod, 'input');
    schema[part] = json;
  }
  if (!schemas.body?.safeParse(undefined).success) return { schema };
  return {
    schema,
    preValidation: async (request) => {
      request.body ??= {};
    },
  };
}
