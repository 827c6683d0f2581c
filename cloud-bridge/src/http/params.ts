import { Sha256Hex } from '@educard/terminal-sdk';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import { IdentifierJson, jsonSchemaOf } from '../contract-check/index.js';

/** The schema of each path parameter that means the same on every route. */
const KNOWN_PARAMS: Record<string, object> = {
  school: IdentifierJson,
  cardId: IdentifierJson,
  device: IdentifierJson,
  personId: IdentifierJson,
  sha256: jsonSchemaOf(Sha256Hex),
  version: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
};

const paramNames = (url: string) =>
  [...url.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1] as string);

/**
 * Gives every route a schema for each of its path parameters before it is registered: a school, card
 * or device id must be the contract's Identifier (no `/`, `..` or space reaches a query, a topic or a
 * file name), a person id too, a file's SHA-256 64 hex digits, a version a positive integer (a route
 * whose `version` is something else, such as a release's, says so in its own schema). A route whose parameter is neither known here nor given a
 * schema of its own is refused when the bridge starts, so no new route can forget one.
 */
export function validatePathParams<L extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, L>,
): void {
  app.addHook('onRoute', (route) => {
    const names = paramNames(route.url);
    if (!names.length) return;
    const schema = (route.schema ?? {}) as { params?: { properties?: Record<string, object> } };
    const own = schema.params?.properties ?? {};
    const properties: Record<string, object> = { ...own };
    for (const name of names) {
      if (properties[name]) continue;
      const known = KNOWN_PARAMS[name];
      if (!known) throw new Error(`route ${route.method} ${route.url}: path parameter ${name} has no schema`);
      properties[name] = known;
    }
    route.schema = {
      ...route.schema,
      params: { ...schema.params, type: 'object', required: names, properties },
    };
  });
}
