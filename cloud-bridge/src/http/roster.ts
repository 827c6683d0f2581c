import {
  Calendar,
  CardEntry,
  describeIssues,
  Identifier,
  ROSTER_VARIANTS,
  RosterVariant,
  Schedule,
} from '@educard/terminal-sdk';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { type RouteTypes, routeSchema } from '../contract-check/index.js';
import { requireGrant } from '../grants/index.js';
import { type ImportInput, parseRosterCsv, type RowProblem, snapshotPath } from '../roster/index.js';
import type { HttpDeps, ProtectedApp, RouteContext } from './deps.js';

const LatestRoute = {
  params: z.object({ school: Identifier }),
  querystring: z.object({ variant: RosterVariant.optional() }),
};
const SnapshotRoute = {
  params: z.object({ school: Identifier, version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER) }),
};
const ImportRoute = {
  params: z.object({ school: Identifier }),
  querystring: z.object({ dryRun: z.enum(['true', 'false']).optional() }),
};

/** A JSON import; its cards are checked one by one, so that each bad row is reported by its line. */
const RosterImportJson = z.object({
  cards: z.array(z.unknown()).max(1_000_000),
  calendar: Calendar.optional(),
  schedules: z.array(Schedule).optional(),
  dryRun: z.boolean().optional(),
});

/** What devices and technicians read of the roster without signing in (docs/api.md, "Roster"). */
export function rosterPublicRoutes(app: FastifyInstance, deps: HttpDeps): void {
  // The root keys devices pin at provisioning; a technician checks them against a fingerprint.
  app.get('/v1/roster/anchor', async () => deps.roster.anchor());

  // Gateways fetch snapshot bodies here, with the grant the bridge published them in the URL; each is
  // checked against its signed manifest's digest. The desk roster's (the whole roster's) at the path
  // gateways before variants know, the gate's beside it.
  for (const variant of ROSTER_VARIANTS) {
    app.get<RouteTypes<typeof SnapshotRoute>>(
      snapshotPath(':school', ':version', variant),
      routeSchema(SnapshotRoute),
      async (request, reply) => {
        const { school, version } = request.params;
        if (!requireGrant(deps.grants, snapshotPath(school, version, variant), request, reply)) return reply;
        const body = deps.roster.snapshotBody(school, version, variant);
        if (!body)
          return reply
            .code(404)
            .send({ error: 'not-found', message: `no snapshot ${version} for ${school}` });
        return reply.type('application/json').send(Buffer.from(body));
      },
    );
  }

  // The latest snapshot's manifest, as the retained message carries it: for a device that cannot wait.
  app.get<RouteTypes<typeof LatestRoute>>(
    '/v1/roster/:school/latest',
    routeSchema(LatestRoute),
    async (request, reply) => {
      const { school } = request.params;
      const latest = deps.roster.latestSnapshot(school, request.query.variant ?? 'desk');
      if (!latest) return reply.code(404).send({ error: 'not-found', message: `no roster for ${school}` });
      return latest;
    },
  );
}

/** The schools a caller may pick, and the roster import (docs/api.md, "Roster"). */
export function rosterRoutes(admin: ProtectedApp, { deps, guard, audited }: RouteContext): void {
  const { store } = deps;

  // The schools a caller may pick from in the pages: all for a district account, else its own.
  admin.get('/v1/schools', async (request) => {
    const own = request.principal?.school;
    const all = deps.schools?.() ?? store.rosterSchools().map((id) => ({ id }));
    return { schools: own ? all.filter((s) => s.id === own) : all };
  });

  admin.post<RouteTypes<typeof ImportRoute>>(
    '/v1/roster/:school/import',
    routeSchema(ImportRoute),
    async (request, reply) => {
      const { school } = request.params;
      if (!guard(request, reply, 'roster.manage', { school })) return;
      const dryRun = request.query.dryRun === 'true';
      let input: ImportInput;
      let problems: RowProblem[] = [];
      if (typeof request.body === 'string') {
        const parsed = parseRosterCsv(request.body);
        problems = parsed.problems;
        input = { cards: parsed.cards, dryRun };
      } else {
        const parsed = RosterImportJson.safeParse(request.body);
        if (!parsed.success)
          return reply.code(400).send({ error: 'bad-request', message: describeIssues(parsed.error) });
        const cards: ImportInput['cards'] = [];
        parsed.data.cards.forEach((raw, index) => {
          const card = CardEntry.safeParse(raw);
          if (card.success) cards.push({ line: index + 1, card: card.data });
          else problems.push({ line: index + 1, problem: describeIssues(card.error) });
        });
        input = {
          cards,
          dryRun: dryRun || (parsed.data.dryRun ?? false),
          ...(parsed.data.calendar ? { calendar: parsed.data.calendar } : {}),
          ...(parsed.data.schedules ? { schedules: parsed.data.schedules } : {}),
        };
      }
      if (problems.length) input = { ...input, dryRun: true };
      const report = await deps.roster.importRoster(school, input);
      const all = [...problems, ...report.problems].sort((a, b) => a.line - b.line);
      const final = { ...report, ok: all.length === 0, dryRun: input.dryRun ?? false, problems: all };
      request.log.info(
        { school, ok: final.ok, version: final.version, problems: all.length },
        'roster import',
      );
      audited(request, 'roster.import', {
        target: `school:${school}`,
        school,
        outcome: final.ok ? 'ok' : 'failed',
        detail: { dryRun: final.dryRun, version: final.version, problems: all.length },
      });
      return reply.code(final.ok ? 200 : 422).send(final);
    },
  );
}
