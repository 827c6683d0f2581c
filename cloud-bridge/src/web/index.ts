import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';

/** Where the build puts the bridge's pages (cloud-bridge/pages → cloud-bridge/dist/pages). */
export const PAGES_DIR = fileURLToPath(new URL('../../dist/pages', import.meta.url));

/**
 * The pages only load what they ship and talk to their own origin: a script injected into a name in
 * the roster could not send a session anywhere.
 */
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/**
 * Serves the built pages at the root of the bridge's HTTP origin, beside the API (/v1, /health), so the
 * session cookie is first-party. A bridge built without its pages (a bare `tsc -b`) serves the API alone.
 */
export async function servePages<L extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, L>,
  dir = PAGES_DIR,
): Promise<boolean> {
  if (!existsSync(dir)) {
    app.log.warn({ dir }, 'the pages are not built (npm run build): serving the API only');
    return false;
  }
  await app.register(fastifyStatic, {
    root: dir,
    prefix: '/',
    index: 'index.html',
    setHeaders: (response) => {
      response.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
      response.setHeader('x-content-type-options', 'nosniff');
      response.setHeader('referrer-policy', 'same-origin');
    },
  });
  return true;
}
