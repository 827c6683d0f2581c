import { describeIssues, Identifier } from '@educard/terminal-sdk';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type AuditSink, auditActor, can, type Guard } from '../access/index.js';
import type { ProtectedApp } from '../http/index.js';
import type { Operations } from './service.js';

const SchoolQuery = z.object({ school: Identifier.optional() });
const AlarmQuery = SchoolQuery.extend({
  open: z.enum(['true', 'false']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});
const RecentQuery = SchoolQuery.extend({ limit: z.coerce.number().int().min(1).max(500).default(50) });
const AlarmIdParams = { type: 'object', properties: { id: { type: 'integer', minimum: 1 } } } as const;

const badRequest = (reply: FastifyReply, error: z.ZodError) =>
  reply.code(400).send({ error: 'bad-request', message: describeIssues(error) });

/** The school a read is about: the one asked for, else the caller's own (none for district-wide callers). */
const schoolOf = (request: FastifyRequest, asked: string | undefined) => asked ?? request.principal?.school;

/**
 * The operations routes (docs/operations.md): alarms, device health, what expires, the event stream,
 * card propagation.
 */
export function opsRoutes(ops: Operations, audit: AuditSink) {
  return (app: ProtectedApp, guard: Guard) => {
    // Streams hold their responses open: end them before the server waits for responses to finish.
    app.addHook('preClose', async () => ops.hub.close());

    app.get('/v1/ops/alarms', async (request, reply) => {
      const query = AlarmQuery.safeParse(request.query);
      if (!query.success) return badRequest(reply, query.error);
      const school = schoolOf(request, query.data.school);
      if (!guard(request, reply, 'devices.read', school ? { school } : {})) return;
      return {
        alarms: ops.alarms.list({
          ...(school ? { school } : {}),
          open: query.data.open === 'true',
          limit: query.data.limit,
        }),
      };
    });

    const alarmAction = (path: string, verb: 'ack' | 'clear') =>
      app.post(path, { schema: { params: AlarmIdParams } }, async (request, reply) => {
        const { id } = request.params as { id: number };
        const held = ops.alarms.get(id);
        const scope = held ? (held.school ? { school: held.school } : {}) : { school: '' };
        if (!guard(request, reply, 'alarms.ack', scope)) return;
        if (!held) return reply.code(404).send({ error: 'not-found', message: `no alarm ${id}` });
        const by = request.principal?.username ?? 'anonymous';
        const done = verb === 'ack' ? ops.alarms.acknowledge(held.id, by) : ops.alarms.clearById(held.id, by);
        if (!done)
          return reply.code(409).send({ error: 'closed', message: `alarm ${held.id} is cleared already` });
        audit.record({
          ...auditActor(request),
          action: `alarms.${verb}`,
          target: `alarm:${held.id}`,
          ...(held.school ? { school: held.school } : {}),
          outcome: 'ok',
          detail: { kind: held.kind, ...(held.device ? { device: held.device } : {}) },
        });
        return { alarm: done };
      });
    alarmAction('/v1/ops/alarms/:id/ack', 'ack');
    alarmAction('/v1/ops/alarms/:id/clear', 'clear');

    app.get('/v1/ops/devices', async (request, reply) => {
      const query = SchoolQuery.safeParse(request.query);
      if (!query.success) return badRequest(reply, query.error);
      const school = schoolOf(request, query.data.school);
      if (!guard(request, reply, 'devices.read', school ? { school } : {})) return;
      return { devices: ops.devices(school) };
    });

    // What the product depends on the date for: a read of the school's gates, like their health.
    app.get('/v1/ops/expiry', async (request, reply) => {
      const query = SchoolQuery.safeParse(request.query);
      if (!query.success) return badRequest(reply, query.error);
      const school = schoolOf(request, query.data.school);
      if (!guard(request, reply, 'devices.read', school ? { school } : {})) return;
      return ops.expiryView(school);
    });

    app.get('/v1/ops/events/recent', async (request, reply) => {
      const query = RecentQuery.safeParse(request.query);
      if (!query.success) return badRequest(reply, query.error);
      const school = schoolOf(request, query.data.school);
      if (!guard(request, reply, 'events.read', school ? { school } : {})) return;
      return { events: ops.recentEvents(school, query.data.limit) };
    });

    app.get('/v1/ops/stream', async (request, reply) => {
      const query = SchoolQuery.safeParse(request.query);
      if (!query.success) return badRequest(reply, query.error);
      const school = schoolOf(request, query.data.school);
      if (!guard(request, reply, 'events.read', school ? { school } : {})) return;
      const owner = request.principal?.id ?? 'anonymous';
      const refusal = ops.hub.refusal(owner);
      if (refusal) {
        request.log.warn(
          { actor: request.principal?.username, streams: ops.hub.size },
          'event stream refused',
        );
        return reply
          .code(429)
          .header('retry-after', '30')
          .send({ error: 'too-many-streams', message: refusal });
      }
      reply.hijack();
      ops.hub.add(reply.raw, school, owner);
      request.log.info({ school, actor: request.principal?.username }, 'event stream opened');
    });

    // Recent transfers between schools, each gate by gate: a read of either school's gates.
    app.get('/v1/ops/transfers', async (request, reply) => {
      const query = RecentQuery.safeParse(request.query);
      if (!query.success) return badRequest(reply, query.error);
      const school = schoolOf(request, query.data.school);
      if (!guard(request, reply, 'devices.read', school ? { school } : {})) return;
      const principal = request.principal;
      const sees = (at: string) => principal !== undefined && can(principal, 'devices.read', { school: at });
      return { transfers: ops.transfers(school, query.data.limit, sees) };
    });

    // A card's history and how far its latest change has reached: a read of the school's gates.
    app.get('/v1/ops/cards/:cardId', async (request, reply) => {
      const { cardId } = request.params as { cardId: string };
      const view = ops.card(cardId);
      if (!guard(request, reply, 'devices.read', { school: view?.school ?? '' })) return;
      if (!view) return reply.code(404).send({ error: 'not-found', message: 'no such card on any roster' });
      return view;
    });
  };
}
