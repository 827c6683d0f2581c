/**
 * Who may do what on the bridge's API and pages. One table, read by every route: a route names the
 * action and the school (and class) it touches, and `can` answers.
 */
import { sameBearer } from '@educard/terminal-sdk';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AccountRole, AuditEntry } from './types.js';

export { ACCOUNT_ROLES, type AccountRole, type AuditEntry } from './types.js';

/** The caller of a request: an account signed in to the pages, or the admin token of the CLI. */
export interface Principal {
  kind: 'account' | 'admin-token';
  id: string;
  username: string;
  role: AccountRole;
  /** The school the account belongs to; a district admin (and a district-wide operator) has none. */
  school?: string;
  /** The class a head teacher is in charge of. */
  className?: string;
}

export const ACTIONS = [
  'attendance.read',
  'events.read',
  'devices.read',
  'devices.manage',
  'cards.change',
  'roster.manage',
  'keys.manage',
  'accounts.manage',
  'audit.read',
  'central.read',
  'central.manage',
  'notices.manage',
  'alarms.ack',
  /** Moving a person to another school: it touches two schools, so it is the district's (no school role has it). */
  'people.transfer',
  /** Everything the bridge holds on one person (a parent's subject-access request): admins only. */
  'people.export',
  /** A person leaving the district: their cards revoked, their data anonymised after retention. */
  'people.remove',
  'updates.read',
  'updates.manage',
  /** Putting a school's gates in lockdown, or lifting it: the school's office, its gatehouse (an operator), the district. */
  'lockdown.set',
  /** The school library's loans, overdue list and conflicts, and its catalogue's summary. */
  'library.read',
  /** The school library's catalogue import and loan rules. */
  'library.manage',
] as const;
export type Action = (typeof ACTIONS)[number];

/** What a request touches: a school, and within it a class. Absent means "every school" or "every class". */
export interface Scope {
  school?: string;
  className?: string;
}

const SCHOOL_ADMIN: ReadonlySet<Action> = new Set<Action>([
  'attendance.read',
  'events.read',
  'devices.read',
  'devices.manage',
  'cards.change',
  'roster.manage',
  'accounts.manage',
  'audit.read',
  'central.read',
  'notices.manage',
  'alarms.ack',
  'people.export',
  'lockdown.set',
  'library.read',
  'library.manage',
]);
const OPERATOR: ReadonlySet<Action> = new Set<Action>([
  // Rollouts span schools: only a district-wide operator reads them (a school-bound one is out of scope).
  'updates.read',
  'events.read',
  'devices.read',
  'cards.change',
  'central.read',
  'alarms.ack',
  'lockdown.set',
]);

/** A school's librarian: their library, nothing of its gates or its pupils' attendance. */
const LIBRARIAN: ReadonlySet<Action> = new Set<Action>(['library.read', 'library.manage']);

/**
 * A head teacher (a class's form teacher): their class's attendance, and its pupils' books overdue at
 * the library (to chase them); each only on a scope that names their class.
 */
const HEAD_TEACHER: ReadonlySet<Action> = new Set<Action>(['attendance.read', 'library.read']);

/** Whether the principal may take the action on the scope. */
export function can(principal: Principal, action: Action, scope: Scope = {}): boolean {
  if (principal.role === 'district-admin') return true;
  // Everyone else is bound to their school (a district-wide operator has none, and sees all).
  const inSchool = principal.school === undefined || principal.school === scope.school;
  switch (principal.role) {
    case 'school-admin':
      return principal.school !== undefined && inSchool && SCHOOL_ADMIN.has(action);
    case 'operator':
      return OPERATOR.has(action) && (principal.school === undefined || inSchool);
    case 'librarian':
      return principal.school !== undefined && inSchool && LIBRARIAN.has(action);
    case 'head-teacher':
      return (
        HEAD_TEACHER.has(action) &&
        principal.school !== undefined &&
        inSchool &&
        principal.className !== undefined &&
        scope.className === principal.className
      );
  }
}

export interface AuditSink {
  record(entry: AuditEntry): void;
}

/** Who made a request, as an audit entry names them. */
export function auditActor(request: FastifyRequest): Pick<AuditEntry, 'actor' | 'role' | 'ip'> {
  const principal = request.principal;
  return {
    actor: principal?.username ?? 'anonymous',
    ...(principal ? { role: principal.role } : {}),
    ip: request.ip,
  };
}

/** Turns a request's credentials into a principal, or says it has none of its kind. */
export type PrincipalResolver = (
  request: FastifyRequest,
) => Principal | undefined | Promise<Principal | undefined>;

/** The admin token of the CLI and of scripts: a district admin without an account. */
export function adminTokenResolver(adminToken: string): PrincipalResolver {
  return (request) => {
    if (!sameBearer(request.headers.authorization, adminToken)) return undefined;
    return { kind: 'admin-token', id: 'admin-token', username: 'admin-token', role: 'district-admin' };
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/**
 * The onRequest hook of the protected routes: the first resolver that knows the caller wins; a caller
 * no resolver knows gets 401.
 */
export function authenticate(resolvers: PrincipalResolver[]) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    for (const resolve of resolvers) {
      const principal = await resolve(request);
      if (principal) {
        request.principal = principal;
        return;
      }
    }
    request.log.warn({ url: request.url }, 'request refused: not signed in and no admin token');
    return reply.code(401).send({
      error: 'unauthorized',
      message: 'sign in, or send the admin token as "Authorization: Bearer TOKEN"',
    });
  };
}

/**
 * Checks an action inside a route. On refusal it answers 403, logs the attempt and writes it to the
 * audit log, and returns false: the route returns at once.
 */
export type Guard = (request: FastifyRequest, reply: FastifyReply, action: Action, scope?: Scope) => boolean;

export function makeGuard(audit: AuditSink): Guard {
  return (request, reply, action, scope = {}) => {
    const principal = request.principal;
    if (principal && can(principal, action, scope)) return true;
    const target = [scope.school, scope.className].filter(Boolean).join('/') || undefined;
    request.log.warn(
      { actor: principal?.username, role: principal?.role, action, target, url: request.url },
      'request denied: role may not do this',
    );
    audit.record({
      actor: principal?.username ?? 'anonymous',
      ...(principal ? { role: principal.role } : {}),
      action,
      ...(target ? { target } : {}),
      ...(scope.school ? { school: scope.school } : {}),
      outcome: 'denied',
      detail: { method: request.method, url: request.url },
      ip: request.ip,
    });
    void reply
      .code(403)
      .send({ error: 'forbidden', message: `your role may not ${action.replace('.', ' ')} here` });
    return false;
  };
}
