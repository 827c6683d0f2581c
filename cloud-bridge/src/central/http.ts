import { type AuditSink, auditActor, type Guard } from '../access/index.js';
import { IdentifierJson } from '../contract-check/index.js';
import type { ProtectedApp } from '../http/index.js';
import { CentralUnavailable } from './client.js';
import type { CentralService } from './service.js';

/** The status view, the dead letters, and the on-demand actions (docs/central.md). */
export function centralRoutes(central: CentralService, audit: AuditSink) {
  return (app: ProtectedApp, guard: Guard): void => {
    const schoolOf = (request: { query: unknown; principal?: { school?: string } }) =>
      (request.query as { school?: string }).school ?? request.principal?.school;

    app.get(
      '/v1/central/status',
      { schema: { querystring: { type: 'object', properties: { school: IdentifierJson } } } },
      async (request, reply) => {
        const school = schoolOf(request);
        if (!guard(request, reply, 'central.read', school ? { school } : {})) return;
        return central.status(school);
      },
    );

    app.get(
      '/v1/central/dead-letters',
      {
        schema: {
          querystring: {
            type: 'object',
            properties: {
              school: IdentifierJson,
              limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 1000 },
            },
          },
        },
      },
      async (request, reply) => {
        const school = schoolOf(request);
        if (!guard(request, reply, 'central.read', school ? { school } : {})) return;
        const { limit } = request.query as { limit: number };
        return { deadLetters: central.outbox?.deadLetters(limit, school) ?? [] };
      },
    );

    app.post('/v1/central/feed/pull', async (request, reply) => {
      if (!guard(request, reply, 'central.manage')) return;
      if (!central.feed)
        return reply.code(409).send({ error: 'not-api-mode', message: `central mode is ${central.mode}` });
      try {
        const pulled = await central.feed.pull();
        audit.record({ ...auditActor(request), action: 'central.feed.pull', outcome: 'ok' });
        return pulled;
      } catch (error) {
        const status = error instanceof CentralUnavailable ? 502 : 500;
        audit.record({
          ...auditActor(request),
          action: 'central.feed.pull',
          outcome: 'failed',
          detail: { message: (error as Error).message },
        });
        return reply.code(status).send({ error: 'pull-failed', message: (error as Error).message });
      }
    });

    app.post(
      '/v1/central/dead-letters/:id/retry',
      { schema: { params: { type: 'object', properties: { id: { type: 'integer', minimum: 1 } } } } },
      async (request, reply) => {
        if (!guard(request, reply, 'central.manage')) return;
        const { id } = request.params as { id: number };
        if (!central.outbox?.retryDeadLetter(id))
          return reply.code(404).send({ error: 'not-found', message: `no dead letter ${id}` });
        request.log.info({ event: id }, 'dead letter retried');
        audit.record({
          ...auditActor(request),
          action: 'central.dead-letter.retry',
          target: `event:${id}`,
          outcome: 'ok',
        });
        return { id, retried: true };
      },
    );
  };
}
