import { describeIssues, Identifier } from '@educard/terminal-sdk';
import { z } from 'zod';
import { type AuditSink, auditActor, type Guard } from '../access/index.js';
import { sendCsv } from '../csv/index.js';
import type { ProtectedApp } from '../http/index.js';
import type { BookOut } from '../library/index.js';
import { RosterChangeRefused } from '../roster/index.js';
import { type SubjectSources, subjectCsv, subjectExport } from './export.js';
import { type Leavers, PersonUnknown } from './leavers.js';

const PersonParams = z.object({ personId: Identifier });
const ExportQuery = z.object({ format: z.enum(['json', 'csv']).default('json') });

export interface PrivacyRouteDeps {
  sources: SubjectSources;
  leavers: Leavers;
  /** The books a person has out at a school's library: a removal names them. */
  booksOut: (school: string, personId: string) => BookOut[];
  audit: AuditSink;
  now: () => Date;
}

/**
 * `GET /v1/people/{personId}/export` (`?format=csv` for the table): everything the bridge holds on a person,
 * for a district admin or an admin of their school; `POST /v1/people/{personId}/remove`: a person
 * leaving the district (the district's). Both audited.
 */
export function privacyRoutes(deps: PrivacyRouteDeps) {
  return (app: ProtectedApp, guard: Guard): void => {
    app.get('/v1/people/:personId/export', async (request, reply) => {
      const params = PersonParams.safeParse(request.params);
      const query = ExportQuery.safeParse(request.query);
      if (!params.success || !query.success) {
        const error = (params.success ? query.error : params.error) as z.ZodError;
        return reply.code(400).send({ error: 'bad-request', message: describeIssues(error) });
      }
      const { personId } = params.data;
      const { format } = query.data;
      const school =
        deps.sources.directory.person(personId)?.school ??
        deps.sources.store.personCards(personId)[0]?.school;
      if (!guard(request, reply, 'people.export', { school: school ?? '' })) return;
      const data = subjectExport(deps.sources, personId, deps.now());
      if (!data)
        return reply
          .code(404)
          .send({ error: 'not-found', message: `the bridge holds nothing on ${personId}` });
      deps.audit.record({
        ...auditActor(request),
        action: 'people.export',
        target: `person:${personId}`,
        ...(school ? { school } : {}),
        outcome: 'ok',
        detail: {
          format,
          events: data.events.length,
          cards: data.cards.length,
          loans: data.loans.length,
          notices: data.notices.length,
        },
      });
      if (format === 'json') return data;
      return sendCsv(reply, `export-${personId}.csv`, subjectCsv(data));
    });

    app.post('/v1/people/:personId/remove', async (request, reply) => {
      const params = PersonParams.safeParse(request.params);
      if (!guard(request, reply, 'people.remove', {})) return;
      if (!params.success)
        return reply.code(400).send({ error: 'bad-request', message: describeIssues(params.error) });
      const { personId } = params.data;
      try {
        const removal = await deps.leavers.remove(personId, auditActor(request));
        const out = deps.booksOut(removal.school, personId);
        if (out.length)
          request.log.warn(
            { person: personId, school: removal.school, books: out.length },
            'left the district with books out at the school library',
          );
        return { ...removal, ...(out.length ? { booksOut: out } : {}) };
      } catch (error) {
        if (error instanceof PersonUnknown)
          return reply.code(404).send({ error: 'not-found', message: error.message });
        if (!(error instanceof RosterChangeRefused)) throw error;
        return reply.code(error.status).send({ error: 'refused', message: error.message });
      }
    });
  };
}
