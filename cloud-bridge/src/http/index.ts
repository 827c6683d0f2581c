import { addressMatcher, boundedHttpServer, RefusalCounter } from '@educard/terminal-sdk/listeners';
import fastifyCookie from '@fastify/cookie';
import Fastify from 'fastify';
import { adminTokenResolver, auditActor, authenticate, makeGuard } from '../access/index.js';
import { requestLogView } from '../grants/index.js';
import { libraryAdminRoutes, libraryPublicRoutes } from '../library/index.js';
import {
  isConnectionFailure,
  isServerUnreachable,
  isStatementTimedOut,
  isStoreFull,
  logFailure,
} from '../store/index.js';
import { cardRoutes } from './cards.js';
import type { Audited, HttpDeps, RouteContext } from './deps.js';
import { deviceRoutes } from './devices.js';
import { enrollmentRoutes } from './enrollment.js';
import { eventRoutes } from './events.js';
import { keyRoutes } from './keys.js';
import { validatePathParams } from './params.js';
import { rosterPublicRoutes, rosterRoutes } from './roster.js';

export type {
  Audited,
  CardChange,
  HttpDeps,
  HttpListening,
  ProtectedApp,
  RouteContext,
} from './deps.js';

/** When a client may ask again after a write refused for a full disk: an operator has to act first. */
const STORE_FULL_RETRY_S = 60;
/** A statement cancelled for its time: the database was busy, or the request asked for too much. */
const STATEMENT_TIMED_OUT_RETRY_S = 5;

/**
 * The bulk imports: the only routes with the large body limit. Each sits behind authentication, which
 * runs before a byte of the body is read, so a stranger's upload is refused unread.
 */
const BULK_IMPORTS = new Set(['/v1/roster/:school/import', '/v1/catalogue/:school/import']);

/**
 * The bridge's HTTP API (docs/api.md): JSON in and out, schemas checked by Fastify, protected routes
 * behind a principal. The app and its listener are made here; each group of routes is a module
 * registered with one line, public ones on the app, protected ones in the authenticated scope.
 */
export function buildHttpApi(deps: HttpDeps) {
  const { limits, trustProxy } = deps.listening;
  const logger = deps.logger.child({ component: 'http' }, { serializers: { req: requestLogView } });
  const refusals = new RefusalCounter(logger, 'bridge http');
  const proxy = addressMatcher(trustProxy);
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: limits.bodyBytes,
    trustProxy: trustProxy.length > 0 ? [...trustProxy] : false,
    // The proxies carry everyone's requests: they are held to the total, not to the per-address cap.
    serverFactory: (handler) => boundedHttpServer(handler, limits, { refusals, exempt: proxy }),
  });
  validatePathParams(app);
  // A request that failed for the database connection, a statement cancelled for running too long,
  // or a full disk is the server's trouble, not a bug: 503 and when to ask again. The request that
  // found the connection gone says so at error; those that then fail at once, at debug (logFailure).
  // Any other error goes on to Fastify's own handler.
  app.setErrorHandler((error, request, reply) => {
    if (isStoreFull(error)) {
      request.log.error({ err: error }, 'request failed: the database or its disk is full');
      return reply.code(503).header('retry-after', String(STORE_FULL_RETRY_S)).send({
        error: 'store-full',
        message:
          "the bridge cannot store changes: its database or disk is full. Ask again once the bridge's operator has freed space",
      });
    }
    if (isStatementTimedOut(error)) {
      request.log.error({ err: error }, 'request failed: a statement ran past the statement timeout');
      return reply.code(503).header('retry-after', String(STATEMENT_TIMED_OUT_RETRY_S)).send({
        error: 'database-busy',
        message: 'the database did not answer this request in time: ask again shortly, or for less at once',
      });
    }
    if (!isConnectionFailure(error)) throw error;
    logFailure(request.log, { err: error }, 'request failed: the database connection');
    const nextAttemptInMs =
      error.nextAttemptInMs ?? deps.store.database.unreachable?.()?.nextAttemptInMs ?? 1000;
    return reply
      .code(503)
      .header('retry-after', String(Math.max(1, Math.ceil(nextAttemptInMs / 1000))))
      .send({
        error: 'database-unreachable',
        // The statement and libpq's words are for the log line, not for whoever asked; that the server
        // cannot be reached (found by this request's own attempt or an earlier one) is for them too.
        message: isServerUnreachable(error)
          ? error.message
          : 'PostgreSQL: the connection failed under this request; ask again',
      });
  });
  app.addHook('onRoute', (route) => {
    if (BULK_IMPORTS.has(route.url)) route.bodyLimit = limits.importBodyBytes;
  });

  const requirePrincipal = authenticate([adminTokenResolver(deps.adminToken), ...(deps.resolvers ?? [])]);
  const guard = makeGuard(deps.audit);
  const audited: Audited = (request, action, fields) =>
    deps.audit.record({ ...auditActor(request), action, outcome: 'ok', ...fields });
  const context: RouteContext = { deps, guard, audited };

  // Sessions of the pages ride in a cookie; the parser comes before every route that reads one.
  app.register(fastifyCookie);
  app.register(async (open) => {
    for (const routes of deps.publicRoutes ?? []) routes(open);
    rosterPublicRoutes(open, deps);
    enrollmentRoutes(open, deps);
  });

  // A database this instance cannot reach, or a store that refuses the events (a full disk), makes
  // it unhealthy (503): a load balancer in front of several instances sends pages and the API to the
  // others meanwhile, and a gateway's doctor says why.
  app.get('/health', async (_request, reply) => {
    const unreachable = deps.store.database.unreachable?.();
    const storeFailure = deps.storeFailure?.();
    if (unreachable || storeFailure) reply.code(503);
    return {
      ok: !unreachable && !storeFailure,
      ...deps.health(),
      ...(storeFailure ? { storeFailure } : {}),
      database: unreachable ? { reachable: false, ...unreachable } : { reachable: true },
      http: { refused: { limits: refusals.counts.limits ?? 0 } },
    };
  });

  app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  if (deps.library) libraryPublicRoutes(app, deps.library, deps.grants);

  app.register(async (admin) => {
    admin.addHook('onRequest', requirePrincipal);
    const { library } = deps;
    if (library) admin.register(async (scope) => libraryAdminRoutes(scope, library, guard));
    for (const routes of deps.routes ?? []) routes(admin, guard);
    rosterRoutes(admin, context);
    cardRoutes(admin, context);
    keyRoutes(admin, context);
    deviceRoutes(admin, context);
    eventRoutes(admin, context);
  });
  return app;
}
