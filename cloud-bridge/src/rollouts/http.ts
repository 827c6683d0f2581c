import { Identifier } from '@educard/terminal-sdk';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type AuditSink, auditActor, type Guard } from '../access/index.js';
import { type RouteTypes, routeSchema } from '../contract-check/index.js';
import type { ProtectedApp } from '../http/index.js';
import { RolloutRefused, type Rollouts } from './service.js';

/** A rollout's or a device's id in the path: the contract's Identifier, like every id the bridge takes. */
const IdRoute = { params: z.object({ id: Identifier }) };
const TagsRoute = {
  params: z.object({ id: Identifier }),
  body: z
    .object({ add: z.array(Identifier).max(64).default([]), remove: z.array(Identifier).max(64).default([]) })
    .prefault({}),
};

/** The rollout routes (docs/api.md, "Rollouts"): make, follow, pause, resume, abort; device tags. */
export function rolloutRoutes(rollouts: Rollouts, audit: AuditSink) {
  return (app: ProtectedApp, guard: Guard) => {
    const refused = (reply: FastifyReply, error: unknown) => {
      if (error instanceof RolloutRefused)
        return reply.code(error.status).send({ error: 'refused', message: error.message });
      throw error;
    };
    const record = (request: FastifyRequest, action: string, id: string, detail: Record<string, unknown>) =>
      audit.record({ ...auditActor(request), action, target: `rollout:${id}`, outcome: 'ok', detail });

    app.post('/v1/rollouts', async (request, reply) => {
      if (!guard(request, reply, 'updates.manage')) return;
      try {
        const rollout = rollouts.create(request.body, request.principal?.username ?? 'anonymous');
        record(request, 'rollouts.create', rollout.id, {
          version: rollout.version,
          devices: Object.values(rollout.counts).reduce((a, b) => a + b, 0),
          phases: rollout.spec.phases,
        });
        return rollout;
      } catch (error) {
        return refused(reply, error);
      }
    });

    app.get('/v1/rollouts', async (request, reply) => {
      if (!guard(request, reply, 'updates.read')) return;
      return { rollouts: rollouts.list() };
    });

    app.get<RouteTypes<typeof IdRoute>>('/v1/rollouts/:id', routeSchema(IdRoute), async (request, reply) => {
      if (!guard(request, reply, 'updates.read')) return;
      const { id } = request.params;
      const rollout = rollouts.view(id);
      if (!rollout) return reply.code(404).send({ error: 'not-found', message: `no rollout ${id}` });
      return { ...rollout, devices: rollouts.devices(id) };
    });

    for (const verb of ['pause', 'resume', 'abort'] as const)
      app.post<RouteTypes<typeof IdRoute>>(
        `/v1/rollouts/:id/${verb}`,
        routeSchema(IdRoute),
        async (request, reply) => {
          if (!guard(request, reply, 'updates.manage')) return;
          const { id } = request.params;
          try {
            const by = request.principal?.username ?? 'anonymous';
            const rollout =
              verb === 'pause'
                ? rollouts.pause(id)
                : verb === 'resume'
                  ? rollouts.resume(id)
                  : rollouts.abort(id, `aborted by ${by}`);
            record(request, `rollouts.${verb}`, id, { version: rollout.version });
            return rollout;
          } catch (error) {
            return refused(reply, error);
          }
        },
      );

    app.post<RouteTypes<typeof TagsRoute>>(
      '/v1/devices/:id/tags',
      routeSchema(TagsRoute),
      async (request, reply) => {
        if (!guard(request, reply, 'updates.manage')) return;
        const { id } = request.params;
        const { add, remove } = request.body;
        try {
          const tags = rollouts.tag(id, add, remove);
          audit.record({
            ...auditActor(request),
            action: 'devices.tag',
            target: `device:${id}`,
            outcome: 'ok',
            detail: { add, remove },
          });
          return { device: id, tags };
        } catch (error) {
          return refused(reply, error);
        }
      },
    );
  };
}
