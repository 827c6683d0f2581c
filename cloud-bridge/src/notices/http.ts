import { type AuditSink, auditActor, type Guard } from '../access/index.js';
import { IdentifierJson } from '../contract-check/index.js';
import type { ProtectedApp } from '../http/index.js';
import type { Notices } from './service.js';

/**
 * The delivery status of parent notices, and sending a given-up delivery again. A school's staff see
 * and retry their school's webhooks; webhooks for every school need a district-wide caller.
 */
export function noticesRoutes(notices: Notices, audit: AuditSink) {
  return (app: ProtectedApp, guard: Guard): void => {
    app.get(
      '/v1/notices/status',
      { schema: { querystring: { type: 'object', properties: { school: IdentifierJson } } } },
      async (request, reply) => {
        const school = (request.query as { school?: string }).school ?? request.principal?.school;
        if (!guard(request, reply, 'notices.manage', school ? { school } : {})) return;
        return { webhooks: notices.status(school) };
      },
    );

    app.post(
      '/v1/notices/deliveries/:id/retry',
      // A delivery id is the UUID the bridge gave it: anything else is refused before any lookup.
      { schema: { params: { type: 'object', properties: { id: { type: 'string', format: 'uuid' } } } } },
      async (request, reply) => {
        const { id } = request.params as { id: string };
        const held = notices.failedDelivery(id);
        // Whether a delivery exists is answered only to a caller who may manage some webhook.
        if (!held) {
          if (!guard(request, reply, 'notices.manage', { school: request.principal?.school })) return;
          return reply.code(404).send({ error: 'not-found', message: `no given-up delivery ${id}` });
        }
        if (!guard(request, reply, 'notices.manage', held)) return;
        notices.resend(id);
        audit.record({
          ...auditActor(request),
          action: 'notices.delivery.retry',
          target: `delivery:${id}`,
          ...held,
          outcome: 'ok',
        });
        return { id, retried: true };
      },
    );
  };
}
