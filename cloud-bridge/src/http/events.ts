import { Identifier, IsoTime } from '@educard/terminal-sdk';
import { z } from 'zod';
import { type RouteTypes, routeSchema } from '../contract-check/index.js';
import type { ProtectedApp, RouteContext } from './deps.js';

const EventsRoute = {
  querystring: z.object({
    school: Identifier.optional(),
    device: Identifier.optional(),
    person: Identifier.optional(),
    type: z.string().max(64).optional(),
    from: IsoTime.optional(),
    to: IsoTime.optional(),
    after: z.number().int().min(0).optional(),
    limit: z.number().int().min(1).max(1000).default(100),
  }),
};

/** The stored events by school, device, person, type and time (docs/api.md, "Events"), a page at a time. */
export function eventRoutes(admin: ProtectedApp, { deps, guard }: RouteContext): void {
  admin.get<RouteTypes<typeof EventsRoute>>(
    '/v1/events',
    routeSchema(EventsRoute),
    async (request, reply) => {
      const q = request.query;
      const school = q.school ?? request.principal?.school;
      if (!guard(request, reply, 'events.read', school ? { school } : {})) return;
      const events = deps.store.queryEvents({
        ...(school ? { school } : {}),
        ...(q.device ? { device: q.device } : {}),
        ...(q.person ? { personId: q.person } : {}),
        ...(q.type ? { type: q.type } : {}),
        ...(q.from ? { fromAt: new Date(q.from).toISOString() } : {}),
        ...(q.to ? { toAt: new Date(q.to).toISOString() } : {}),
        // A client following `after` must not be led past an id another instance still commits.
        ...(q.after !== undefined ? { afterId: q.after, throughId: deps.store.settledEventId() } : {}),
        limit: q.limit,
      });
      return { events, next: events.at(-1)?.id };
    },
  );
}
