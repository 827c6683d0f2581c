import { Batches } from '@educard/terminal-sdk';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { type Action, type AuditEntry, auditActor, can } from '../access/index.js';
import type { ProtectedApp } from '../http/index.js';

/** A read of personal data: what was read, and whose (a school, a class in it, a person or a card). */
export interface PersonalRead {
  what: string;
  school?: string;
  className?: string;
  personId?: string;
  cardId?: string;
}

type Fields = Record<string, string | undefined>;
type ReadOf = (params: Fields, query: Fields, request: FastifyRequest) => PersonalRead;

const ownSchool = (query: Fields, request: FastifyRequest) => query.school ?? request.principal?.school;

/**
 * The routes that answer with personal data, by their path as registered, and what each read is about.
 * A route that answers with a pupil's data and is not here is a gap: add it (docs/privacy.md lists them).
 * The subject-access export is not here: it writes its own entry (`people.export`), with what it gave.
 */
export const PERSONAL_READS: Record<string, ReadOf> = {
  '/v1/attendance/:school/days/:date': (p, q) => ({
    what: p.date?.endsWith('.csv') ? 'attendance.csv' : 'attendance.day',
    school: p.school,
    className: q.class,
  }),
  '/v1/attendance/:school/trend': (p, q) => ({
    what: 'attendance.trend',
    school: p.school,
    className: q.class,
  }),
  '/v1/attendance/:school/consecutive-absences': (p, q) => ({
    what: 'attendance.absences',
    school: p.school,
    className: q.class,
  }),
  '/v1/events': (_p, q, request) => ({
    what: 'events',
    school: ownSchool(q, request),
    personId: q.person,
  }),
  '/v1/ops/events/recent': (_p, q, request) => ({ what: 'events.recent', school: ownSchool(q, request) }),
  '/v1/ops/cards/:cardId': (p) => ({ what: 'card.lookup', cardId: p.cardId }),
  '/v1/library/:school/loans': (p, q) => ({ what: 'library.loans', school: p.school, personId: q.person }),
  '/v1/library/:school/overdue': (p, q) => ({
    what: 'library.overdue',
    school: p.school,
    className: q.class,
  }),
  '/v1/library/:school/conflicts': (p) => ({ what: 'library.conflicts', school: p.school }),
  '/v1/library/:school/overdue.csv': (p, q) => ({
    what: 'library.overdue.csv',
    school: p.school,
    className: q.class,
  }),
};

/**
 * Streams answer until the reader leaves: their read is entered when one is let in, as the route's own
 * guard decides it (the same `can`), not when it ends.
 */
export const STREAM_READS: Record<string, { action: Action; read: ReadOf }> = {
  '/v1/ops/stream': {
    action: 'events.read',
    read: (_p, q, request) => ({ what: 'events.stream', school: ownSchool(q, request) }),
  },
};

/** What the audit entry names: the narrowest of person, card, class, school. */
function targetOf(read: PersonalRead): string | undefined {
  if (read.personId) return `person:${read.personId}`;
  if (read.cardId) return `card:${read.cardId}`;
  if (read.className && read.school) return `class:${read.school}/${read.className}`;
  return read.school ? `school:${read.school}` : undefined;
}

export interface ReadAuditSink {
  recordMany(entries: (AuditEntry & { at: string })[]): void;
}

/**
 * Reads of personal data, each an audit entry (`read.*`: who, which role, whose data, when), gathered
 * and written in one transaction every `flushMs` or `maxBatch` entries, so a page that reads often
 * costs the database one write now and then rather than one per request.
 */
export class ReadAudit {
  private readonly entries: Batches<AuditEntry & { at: string }>;
  private readonly now: () => Date;

  constructor(deps: {
    audit: ReadAuditSink;
    logger: Logger;
    now: () => Date;
    flushMs?: number;
    maxBatch?: number;
  }) {
    this.now = deps.now;
    this.entries = new Batches((entries) => deps.audit.recordMany(entries), deps.logger, {
      everyMs: deps.flushMs ?? 500,
      maxBatch: deps.maxBatch ?? 200,
      failure: 'read audit entries could not be written',
    });
  }

  record(request: FastifyRequest, read: PersonalRead, at: Date): void {
    const target = targetOf(read);
    this.entries.push({
      ...auditActor(request),
      action: `read.${read.what}`,
      ...(target ? { target } : {}),
      ...(read.school ? { school: read.school } : {}),
      outcome: 'ok',
      at: at.toISOString(),
    });
  }

  flush(): void {
    this.entries.flush();
  }

  /** A successful answer of a route in PERSONAL_READS is a read, dated when the request came in. */
  hook(): (app: ProtectedApp) => void {
    return (app) => {
      app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
        const readOf = PERSONAL_READS[request.routeOptions.url ?? ''];
        if (!readOf || request.method !== 'GET' || reply.statusCode >= 300 || !request.principal) return;
        const read = readOf(request.params as Fields, request.query as Fields, request);
        this.record(request, read, new Date(this.now().getTime() - reply.elapsedTime));
      });
      app.addHook('preHandler', async (request: FastifyRequest) => {
        const stream = STREAM_READS[request.routeOptions.url ?? ''];
        if (!stream || request.method !== 'GET' || !request.principal) return;
        const read = stream.read(request.params as Fields, request.query as Fields, request);
        const scope = read.school ? { school: read.school } : {};
        if (can(request.principal, stream.action, scope)) this.record(request, read, this.now());
      });
    };
  }
}
