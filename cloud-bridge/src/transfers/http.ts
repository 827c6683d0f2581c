import { describeIssues, Identifier, IsoDate } from '@educard/terminal-sdk';
import { z } from 'zod';
import { type AuditSink, auditActor, type Guard } from '../access/index.js';
import type { ProtectedApp } from '../http/index.js';
import type { BookOut } from '../library/index.js';
import { RosterChangeRefused } from '../roster/index.js';
import type { Transfer } from './log.js';
import type { TransferRequest } from './request.js';

const TransferBody = z.strictObject({
  to: Identifier,
  on: IsoDate.optional(),
  class: z.string().min(1).max(32).optional(),
});
const PersonParams = z.object({ personId: Identifier });

/**
 * `POST /v1/people/{personId}/transfer`: a transfer for districts without a change feed, made as the
 * feed's would be (`transfer`), district-wide (`people.transfer`), and audited either way. The answer
 * names the books the person still has out at the old school's library (`booksOut`).
 */
export function transferRoutes(
  transfer: (request: TransferRequest) => Promise<Transfer>,
  audit: AuditSink,
  booksOut: (school: string, personId: string) => BookOut[],
) {
  return (app: ProtectedApp, guard: Guard): void => {
    app.post('/v1/people/:personId/transfer', async (request, reply) => {
      const params = PersonParams.safeParse(request.params);
      const body = TransferBody.safeParse(request.body ?? {});
      if (!guard(request, reply, 'people.transfer', body.success ? { school: body.data.to } : {})) return;
      if (!params.success || !body.success) {
        const error = (params.success ? body.error : params.error) as z.ZodError;
        return reply.code(400).send({ error: 'bad-request', message: describeIssues(error) });
      }
      const { personId } = params.data;
      const { to, on, class: className } = body.data;
      const asked = {
        ...auditActor(request),
        action: 'people.transfer',
        target: `person:${personId}`,
        school: to,
      };
      try {
        const made = await transfer({
          personId,
          to,
          ...(on ? { on } : {}),
          ...(className ? { class: className } : {}),
          actor: request.principal?.username ?? 'anonymous',
        });
        const out = booksOut(made.from, personId);
        audit.record({
          ...asked,
          outcome: 'ok',
          detail: {
            from: made.from,
            to: made.to,
            on: made.on,
            cards: made.cards.length,
            versions: made.versions,
            ...(out.length ? { booksOut: out.length } : {}),
          },
        });
        if (out.length)
          request.log.warn(
            { person: personId, school: made.from, books: out.length },
            'moved with books out at the old school library',
          );
        const { before: _before, ...shown } = made;
        return { ...shown, ...(out.length ? { booksOut: out } : {}) };
      } catch (error) {
        // A transfer is refused the way any roster change is: the status says why.
        if (!(error instanceof RosterChangeRefused)) throw error;
        request.log.warn({ person: personId, to, reason: error.message }, 'transfer refused');
        audit.record({ ...asked, outcome: 'failed', detail: { reason: error.message } });
        return reply.code(error.status).send({ error: 'refused', message: error.message });
      }
    });
  };
}
