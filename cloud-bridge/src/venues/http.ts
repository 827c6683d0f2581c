import { Identifier, IsoDate } from '@educard/terminal-sdk';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type AuditSink, auditActor, type Guard } from '../access/index.js';
import { type RouteTypes, routeSchema } from '../contract-check/index.js';
import { type BodyGrants, requireGrant } from '../grants/index.js';
import type { ProtectedApp } from '../http/index.js';
import { type HotlistService, hotlistPath } from './hotlist.js';
import { BookingRefused, type VenuePlans } from './plans.js';
import type { VenueDay } from './visits.js';

/** What the venues' routes use of the bridge's venues (its `Venues`), named here so the routes do not import their own index. */
export interface VenuesView {
  hotlist: HotlistService;
  plans: VenuePlans;
  visitsPerDay(days: number, site?: string): VenueDay[];
}

const LocalClock = z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$/, 'HH:MM, 00:00 to 23:59');
const BookingBody = z.object({
  school: Identifier,
  class: z.string().min(1).max(32),
  date: IsoDate,
  from: LocalClock,
  until: LocalClock,
  teachers: z.array(Identifier).min(1).max(16).optional(),
});
const Venue = z.object({ venue: Identifier });
const SnapshotRoute = { params: z.object({ version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER) }) };
const BookingsRoute = { params: Venue, querystring: z.object({ from: IsoDate.optional() }) };
const BookRoute = { params: Venue, body: BookingBody };
const CancelRoute = {
  params: z.object({ id: z.string().regex(/^b-[0-9a-f]{12}$/, 'b- and 12 hex digits') }),
};
const VisitsRoute = {
  querystring: z.object({
    school: Identifier.optional(),
    days: z.number().int().min(1).max(366).default(14),
  }),
};

const refused = (reply: FastifyReply, error: unknown) => {
  if (error instanceof BookingRefused)
    return reply.code(error.status).send({ error: 'refused', message: error.message });
  throw error;
};

/**
 * The hotlist's snapshot bodies: what venues fetch, with the grant the bridge published in the URL,
 * checked there against their signed manifest.
 */
export function venuesPublicRoutes(venues: VenuesView, grants: BodyGrants) {
  return (app: FastifyInstance) => {
    app.get<RouteTypes<typeof SnapshotRoute>>(
      '/v1/hotlist/snapshots/:version',
      routeSchema(SnapshotRoute),
      async (request, reply) => {
        const { version } = request.params;
        if (!requireGrant(grants, hotlistPath(version), request, reply)) return reply;
        const body = venues.hotlist.snapshot(version);
        if (!body)
          return reply.code(404).send({ error: 'not-found', message: `no hotlist snapshot ${version}` });
        return reply.type('application/octet-stream').send(Buffer.from(body));
      },
    );
  };
}

/**
 * The venues' routes (docs/api.md, "Venues"): the hotlist's state, class visits booked by a school at a
 * venue, and each venue's visits per day for the operations page.
 */
export function venuesRoutes(venues: VenuesView, audit: AuditSink) {
  return (app: ProtectedApp, guard: Guard) => {
    const audited = (
      request: FastifyRequest,
      action: string,
      school: string,
      target: string,
      detail: Record<string, unknown>,
    ) => audit.record({ ...auditActor(request), action, target, school, outcome: 'ok', detail });

    app.get('/v1/hotlist', async (request, reply) => {
      if (!guard(request, reply, 'devices.read')) return;
      return venues.hotlist.status();
    });

    app.get<RouteTypes<typeof BookingsRoute>>(
      '/v1/venues/:venue/bookings',
      routeSchema(BookingsRoute),
      async (request, reply) => {
        const { venue } = request.params;
        // The venue's staff see all its bookings; a school's admin sees the ones of their school.
        const own = request.principal?.school;
        const scope = own && own !== venue ? { school: own } : { school: venue };
        if (!guard(request, reply, 'events.read', scope)) return;
        const bookings = venues.plans.bookings(venue, request.query.from);
        return { bookings: own && own !== venue ? bookings.filter((b) => b.school === own) : bookings };
      },
    );

    app.post<RouteTypes<typeof BookRoute>>(
      '/v1/venues/:venue/bookings',
      routeSchema(BookRoute),
      async (request, reply) => {
        const { venue } = request.params;
        const body = request.body;
        if (!guard(request, reply, 'roster.manage', { school: body.school })) return;
        try {
          const by = request.principal?.username ?? 'anonymous';
          const { teachers, ...rest } = body;
          const booked = await venues.plans.book(venue, { ...rest, ...(teachers ? { teachers } : {}) }, by);
          audited(request, 'venues.book', body.school, `booking:${booked.booking.bookingId}`, {
            venue: venue,
            class: body.class,
            date: body.date,
            pupils: booked.booking.pupils.length,
            planVersion: booked.version,
          });
          request.log.info({ venue: venue, booking: booked.booking.bookingId }, 'class visit booked');
          return reply.code(201).send(booked);
        } catch (error) {
          return refused(reply, error);
        }
      },
    );

    app.post<RouteTypes<typeof CancelRoute>>(
      '/v1/venues/bookings/:id/cancel',
      routeSchema(CancelRoute),
      async (request, reply) => {
        const { id } = request.params;
        const held = venues.plans.booking(id);
        if (!guard(request, reply, 'roster.manage', { school: held?.school ?? '' })) return;
        try {
          const cancelled = await venues.plans.cancel(id);
          audited(request, 'venues.cancel', cancelled.booking.school, `booking:${id}`, {
            venue: cancelled.booking.venue,
            planVersion: cancelled.version,
          });
          return cancelled;
        } catch (error) {
          return refused(reply, error);
        }
      },
    );

    app.get<RouteTypes<typeof VisitsRoute>>(
      '/v1/ops/venues/visits',
      routeSchema(VisitsRoute),
      async (request, reply) => {
        const { days, school } = request.query;
        const site = school ?? request.principal?.school;
        if (!guard(request, reply, 'events.read', site ? { school: site } : {})) return;
        return { days: venues.visitsPerDay(days, site) };
      },
    );
  };
}
