import { describeIssues, Identifier } from '@educard/terminal-sdk';
import type {} from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Guard, PrincipalResolver, Scope } from '../access/index.js';
import type { ProtectedApp } from '../http/index.js';
import type { AuditLog } from './audit.js';
import {
  AccountPatch,
  AccountRefused,
  type Accounts,
  NewAccount,
  PasswordChange,
  type SignedIn,
} from './service.js';
import type { SessionView } from './types.js';

export const SESSION_COOKIE = 'educard_session';

const Login = z.object({ username: z.string().min(1).max(256), password: z.string().max(4096) });

const AuditQuery = z.object({
  school: Identifier.optional(),
  actor: z.string().max(256).optional(),
  action: z.string().max(64).optional(),
  target: z.string().max(256).optional(),
  outcome: z.enum(['ok', 'denied', 'failed']).optional(),
  before: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** Accounts are named by a UUID. */
const AccountIdParams = { type: 'object', properties: { id: { type: 'string', format: 'uuid' } } } as const;

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

class UnsupportedMediaType extends Error {
  readonly statusCode = 415;
}

const sessionView = ({
  account,
  expiresAt,
}: {
  account: SignedIn['account'];
  expiresAt: string;
}): SessionView => ({
  account: {
    id: account.id,
    username: account.username,
    displayName: account.displayName,
    role: account.role,
    ...(account.school !== undefined ? { school: account.school } : {}),
    ...(account.className !== undefined ? { className: account.className } : {}),
  },
  expiresAt,
});

/**
 * The session cookie; `Secure` when the request came over HTTPS, as the bridge saw it or, behind a
 * TLS-terminating proxy named in `http.trustProxy`, as the proxy's X-Forwarded-Proto says.
 */
function setSessionCookie(request: FastifyRequest, reply: FastifyReply, accounts: Accounts, token: string) {
  void reply.setCookie(SESSION_COOKIE, token, {
    path: '/',
    httpOnly: true,
    sameSite: 'strict',
    secure: request.protocol === 'https',
    maxAge: accounts.settings.sessionAbsoluteHours * 3600,
  });
}

const badRequest = (reply: FastifyReply, error: z.ZodError) =>
  reply.code(400).send({ error: 'bad-request', message: describeIssues(error) });

function refused(reply: FastifyReply, error: unknown) {
  if (error instanceof AccountRefused)
    return reply.code(error.status).send({ error: error.code, message: error.message });
  throw error;
}

/**
 * The session cookie as a principal. A cookie-authenticated request that changes something must be
 * JSON: a cross-site HTML form can send only form encodings and text/plain, so it is refused (415)
 * before anything runs.
 */
export function sessionResolver(accounts: Accounts): PrincipalResolver {
  return (request) => {
    const token = request.cookies?.[SESSION_COOKIE];
    if (!token) return undefined;
    const found = accounts.resolve(token);
    if (!found) return undefined;
    const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (MUTATING.has(request.method) && type !== 'application/json')
      throw new UnsupportedMediaType('a signed-in page sends changes as application/json');
    return {
      kind: 'account',
      id: found.account.id,
      username: found.account.username,
      role: found.account.role,
      ...(found.account.school !== undefined ? { school: found.account.school } : {}),
      ...(found.account.className !== undefined ? { className: found.account.className } : {}),
    };
  };
}

/** Sign in, see who is signed in, sign out: public, since they are how one gets a session. */
export function sessionRoutes(app: FastifyInstance, accounts: Accounts): void {
  app.post('/v1/session', async (request, reply) => {
    const body = Login.safeParse(request.body);
    if (!body.success) return badRequest(reply, body.error);
    const result = await accounts.login(body.data.username, body.data.password, request.ip);
    if (!result.ok) {
      if (result.error === 'throttled')
        return reply
          .code(429)
          .header('retry-after', String(result.retryAfterSeconds))
          .send({ error: 'throttled', message: 'too many failed logins: try again in a few minutes' });
      if (result.error === 'busy')
        return reply
          .code(503)
          .header('retry-after', String(result.retryAfterSeconds))
          .send({ error: 'busy', message: 'too many sign-ins at once: try again in a moment' });
      return reply.code(401).send({ error: 'bad-credentials', message: 'wrong username or password' });
    }
    setSessionCookie(request, reply, accounts, result.token);
    return sessionView(result);
  });

  app.get('/v1/session', async (request, reply) => {
    const token = request.cookies?.[SESSION_COOKIE];
    const found = token ? accounts.resolve(token) : undefined;
    if (!found) return reply.code(401).send({ error: 'unauthorized', message: 'not signed in' });
    return sessionView(found);
  });

  app.delete('/v1/session', async (request, reply) => {
    const token = request.cookies?.[SESSION_COOKIE];
    if (token) accounts.logout(token, request.ip);
    void reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.code(204).send();
  });
}

/** Accounts, one's own password and the audit log: protected routes, each checking its action. */
export function accountRoutes(accounts: Accounts, audit: AuditLog) {
  return (app: ProtectedApp, guard: Guard) => {
    app.get('/v1/accounts', async (request, reply) => {
      const query = z.object({ school: Identifier.optional() }).safeParse(request.query);
      if (!query.success) return badRequest(reply, query.error);
      const school = query.data.school ?? request.principal?.school;
      if (!guard(request, reply, 'accounts.manage', school ? { school } : {})) return;
      return { accounts: accounts.list(school) };
    });

    // A caller who may manage no accounts at all is refused (and audited) before the body is read.
    const mayManageAny = (request: FastifyRequest, reply: FastifyReply) =>
      guard(request, reply, 'accounts.manage', { school: request.principal?.school ?? '' });

    app.post('/v1/accounts', async (request, reply) => {
      if (!mayManageAny(request, reply)) return;
      const body = NewAccount.safeParse(request.body);
      if (!body.success) return badRequest(reply, body.error);
      // A district admin (and a district-wide operator) has no school: only a district admin may make one.
      if (!guard(request, reply, 'accounts.manage', scopeOf(body.data.role, body.data.school))) return;
      try {
        const account = await accounts.create(body.data, caller(request));
        return reply.code(201).send({ account });
      } catch (error) {
        return refused(reply, error);
      }
    });

    app.patch('/v1/accounts/:id', { schema: { params: AccountIdParams } }, async (request, reply) => {
      const { id } = request.params as { id: string };
      if (!mayManageAny(request, reply)) return;
      const body = AccountPatch.safeParse(request.body);
      if (!body.success) return badRequest(reply, body.error);
      const held = accounts.get(id);
      if (!guard(request, reply, 'accounts.manage', held ? scopeOf(held.role, held.school) : { school: '' }))
        return;
      if (!held) return reply.code(404).send({ error: 'not-found', message: `no account ${id}` });
      const patch = body.data;
      const role = patch.role ?? held.role;
      const school = patch.school === undefined ? held.school : (patch.school ?? undefined);
      // Where the account ends up must be the caller's to manage too: no promotion past one's own reach.
      if (!guard(request, reply, 'accounts.manage', scopeOf(role, school))) return;
      try {
        return { account: await accounts.update(id, patch, caller(request)) };
      } catch (error) {
        return refused(reply, error);
      }
    });

    // One's own password: any signed-in account, whatever its role.
    app.put('/v1/session/password', async (request, reply) => {
      const body = PasswordChange.safeParse(request.body);
      if (!body.success) return badRequest(reply, body.error);
      try {
        const signedIn = await accounts.changeOwnPassword(
          request.principal as NonNullable<typeof request.principal>,
          body.data.current,
          body.data.next,
          request.ip,
        );
        setSessionCookie(request, reply, accounts, signedIn.token);
        return sessionView(signedIn);
      } catch (error) {
        return refused(reply, error);
      }
    });

    app.get('/v1/audit', async (request, reply) => {
      const query = AuditQuery.safeParse(request.query);
      if (!query.success) return badRequest(reply, query.error);
      const school = query.data.school ?? request.principal?.school;
      if (!guard(request, reply, 'audit.read', school ? { school } : {})) return;
      const { school: _s, ...filter } = query.data;
      const entries = audit.query({ ...filter, ...(school ? { school } : {}) });
      return { entries, next: entries.length === filter.limit ? entries.at(-1)?.id : undefined };
    });
  };
}

/** The scope an account sits in: its school, or none for a district admin and a district-wide operator. */
const scopeOf = (role: string, school: string | undefined): Scope =>
  role === 'district-admin' || school === undefined ? {} : { school };

const caller = (request: FastifyRequest) => ({
  principal: request.principal as NonNullable<FastifyRequest['principal']>,
  ip: request.ip,
});
