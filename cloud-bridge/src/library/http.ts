import { CatalogueItem, CatalogueRules, describeIssues, localDate } from '@educard/terminal-sdk';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyReply,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import { z } from 'zod';
import { type AuditSink, auditActor, type Guard } from '../access/index.js';
import { ClassJson, IdentifierJson } from '../contract-check/index.js';
import { sendCsv } from '../csv/index.js';
import type { Directory } from '../directory/index.js';
import { type BodyGrants, requireGrant } from '../grants/index.js';
import type { BridgeStore } from '../store/index.js';
import { parseCatalogueCsv } from './csv.js';
import type { LoanLedger } from './loans.js';
import { libraryOverdueSources, type OverdueSources, overdueCsv, overdueList } from './overdue.js';
import { type CatalogueImportInput, type CatalogueService, cataloguePath } from './service.js';
import type { ItemProblem, LoanConflictView } from './types.js';

export interface LibraryHttpDeps {
  catalogue: CatalogueService;
  store: BridgeStore;
  ledger: LoanLedger;
  /** Where catalogue imports are written down. */
  audit?: AuditSink;
  /** The overdue list's names and classes, time zones and clock. */
  directory: Directory;
  timeZoneOf: (school: string) => string;
  now: () => Date;
  /** What the pupils' parents were reminded of (where a webhook sends reminders of overdue books). */
  remindersOf?: OverdueSources['remindersOf'];
}

const CatalogueImportJson = z
  .object({
    items: z.array(z.unknown()).max(2_000_000).optional(),
    /** A CSV file's text, as a signed-in page sends it: a session may send changes only as JSON. */
    csv: z.string().optional(),
    rules: CatalogueRules.optional(),
    dryRun: z.boolean().optional(),
  })
  .refine((body) => (body.items === undefined) !== (body.csv === undefined), {
    message: 'send the items, or a CSV file as `csv`: one of them',
  });

/** Items sent as JSON, each checked on its own: the bad ones are problems by their place in the list. */
function itemsOfJson(raw: unknown[]): { items: CatalogueImportInput['items']; problems: ItemProblem[] } {
  const items: CatalogueImportInput['items'] = [];
  const problems: ItemProblem[] = [];
  raw.forEach((entry, index) => {
    const item = CatalogueItem.safeParse(entry);
    if (item.success) items.push({ line: index + 1, item: item.data });
    else {
      const itemId = (entry as { itemId?: unknown })?.itemId;
      problems.push({
        line: index + 1,
        ...(typeof itemId === 'string' ? { itemId } : {}),
        problem: describeIssues(item.error),
      });
    }
  });
  return { items, problems };
}

/** The bridge's Fastify instance, or its admin scope (whose logger is typed apart). */
type App<L extends FastifyBaseLogger> = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  L
>;

const READS = new Set(['GET', 'HEAD']);

/** The routes whose query may name a class, and whose answer is then that class's alone. */
const BY_CLASS = new Set(['/v1/library/:school/overdue', '/v1/library/:school/overdue.csv']);
const classOf = (query: unknown) => (query as { class?: string }).class;

const SchoolParams = {
  type: 'object',
  required: ['school'],
  properties: { school: IdentifierJson },
} as const;

/**
 * Library gateways fetch catalogue bodies here, as they fetch roster snapshots: with the grant the
 * bridge published them in the URL; each body is checked against its manifest.
 */
export function libraryPublicRoutes<L extends FastifyBaseLogger>(
  app: App<L>,
  deps: LibraryHttpDeps,
  grants: BodyGrants,
): void {
  app.get('/v1/catalogue/:school/snapshots/:version', async (request, reply) => {
    const { school, version } = request.params as { school: string; version: number };
    if (!requireGrant(grants, cataloguePath(school, version), request, reply)) return reply;
    const found = deps.store.catalogueVersion(school, version);
    // A version thinned to its manifest (superseded for longer than a grant lasts) has no body to serve.
    if (!found || found.body.length === 0)
      return reply.code(404).send({ error: 'not-found', message: `no catalogue ${version} for ${school}` });
    return reply.type('application/json').send(Buffer.from(found.body));
  });
}

/** The admin routes of the library: catalogue import and rules, the loan ledger and its conflicts. */
export function libraryAdminRoutes<L extends FastifyBaseLogger>(
  admin: App<L>,
  deps: LibraryHttpDeps,
  guard: Guard,
): void {
  // Every library route names its school: the catalogue and the ledger are the school's, read by a GET
  // (or its HEAD) and changed by any other method. The overdue list may name a class too (a form
  // teacher reads theirs); every other route is the whole school's, whatever its query says. (The
  // caller registers these routes in a scope of their own, so the hook stops at them.)
  admin.addHook('preHandler', async (request, reply) => {
    const { school } = request.params as { school?: string };
    const action = READS.has(request.method) ? 'library.read' : 'library.manage';
    const className = BY_CLASS.has(request.routeOptions.url ?? '') ? classOf(request.query) : undefined;
    if (!guard(request, reply, action, { school: school ?? '', ...(className ? { className } : {}) }))
      return reply;
  });
  admin.post('/v1/catalogue/:school/import', { schema: { params: SchoolParams } }, async (request, reply) => {
    const { school } = request.params as { school: string };
    const dryRun = (request.query as { dryRun?: string }).dryRun === 'true';
    let input: CatalogueImportInput;
    let problems: ItemProblem[];
    if (typeof request.body === 'string') {
      const read = parseCatalogueCsv(request.body);
      problems = read.problems;
      input = { items: read.items, dryRun };
    } else {
      const parsed = CatalogueImportJson.safeParse(request.body);
      if (!parsed.success)
        return reply.code(400).send({ error: 'bad-request', message: describeIssues(parsed.error) });
      const { csv, items, rules } = parsed.data;
      const read = csv === undefined ? itemsOfJson(items ?? []) : parseCatalogueCsv(csv);
      problems = read.problems;
      input = {
        items: read.items,
        dryRun: dryRun || (parsed.data.dryRun ?? false),
        ...(rules ? { rules } : {}),
      };
    }
    if (problems.length) input = { ...input, dryRun: true };
    const report = await deps.catalogue.importCatalogue(school, input);
    const all = [...problems, ...report.problems].sort((a, b) => a.line - b.line);
    const final = { ...report, ok: all.length === 0, dryRun: input.dryRun ?? false, problems: all };
    request.log.info(
      { school, ok: final.ok, version: final.version, problems: all.length },
      'catalogue import',
    );
    deps.audit?.record({
      ...auditActor(request),
      action: 'catalogue.import',
      target: `school:${school}`,
      school,
      outcome: final.ok ? 'ok' : 'failed',
      detail: { dryRun: final.dryRun, version: final.version, problems: all.length },
    });
    return reply.code(final.ok ? 200 : 422).send(final);
  });

  admin.put('/v1/catalogue/:school/rules', { schema: { params: SchoolParams } }, async (request, reply) => {
    const { school } = request.params as { school: string };
    const rules = CatalogueRules.safeParse(request.body);
    if (!rules.success)
      return reply.code(400).send({ error: 'bad-request', message: describeIssues(rules.error) });
    const result = await deps.catalogue.setRules(school, rules.data);
    request.log.info({ school, ...result }, 'library rules set');
    return { school, ...result, rules: rules.data };
  });

  admin.get('/v1/catalogue/:school', { schema: { params: SchoolParams } }, async (request, reply) => {
    const { school } = request.params as { school: string };
    const current = deps.catalogue.current(school);
    if (!current) return reply.code(404).send({ error: 'not-found', message: `no catalogue for ${school}` });
    return {
      school,
      version: current.version,
      issuedAt: current.issuedAt,
      items: current.items.length,
      rules: current.rules,
    };
  });

  admin.get(
    '/v1/library/:school/loans',
    {
      schema: {
        params: SchoolParams,
        querystring: {
          type: 'object',
          properties: {
            open: { type: 'boolean' },
            person: IdentifierJson,
            item: { type: 'string', maxLength: 64 },
            limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 1000 },
          },
        },
      },
    },
    async (request) => {
      const { school } = request.params as { school: string };
      const q = request.query as { open?: boolean; person?: string; item?: string; limit: number };
      const loans = deps.ledger.loans(school, {
        ...(q.open ? { open: true } : {}),
        ...(q.person ? { personId: q.person } : {}),
        ...(q.item ? { itemId: q.item } : {}),
        limit: q.limit,
      });
      return { school, loans };
    },
  );

  const sources = libraryOverdueSources(deps);
  /** The list, or undefined for a class the school does not have (none of its loans is late either). */
  const overdue = (school: string, className: string | undefined) => {
    const list = overdueList(sources, school, deps.now(), className);
    if (className === undefined || list.loans.length || hasClass(school, className)) return list;
  };
  const hasClass = (school: string, className: string) =>
    deps.directory.class(school, className) !== undefined ||
    deps.store.rosterCards(school).some((card) => card.class === className);
  const noClass = (reply: FastifyReply, school: string, className?: string) =>
    reply.code(404).send({ error: 'not-found', message: `no class ${className} in ${school}` });
  const overdueSchema = {
    params: SchoolParams,
    querystring: { type: 'object', properties: { class: ClassJson } },
  };
  admin.get('/v1/library/:school/overdue', { schema: overdueSchema }, async (request, reply) => {
    const { school } = request.params as { school: string };
    const className = classOf(request.query);
    return overdue(school, className) ?? noClass(reply, school, className);
  });
  admin.get('/v1/library/:school/overdue.csv', { schema: overdueSchema }, async (request, reply) => {
    const { school } = request.params as { school: string };
    const className = classOf(request.query);
    const list = overdue(school, className);
    if (!list) return noClass(reply, school, className);
    const day = localDate(Date.parse(list.asOf), list.timeZone);
    return sendCsv(
      reply,
      `overdue-${school}${className ? `-${className}` : ''}-${day}.csv`,
      overdueCsv(list),
    );
  });

  admin.get('/v1/library/:school/conflicts', { schema: { params: SchoolParams } }, async (request) => {
    const { school } = request.params as { school: string };
    const title = sources.titleOf(school);
    const conflicts = deps.ledger.loanConflicts(school).map((conflict): LoanConflictView => {
      const named = title(conflict.itemId);
      return {
        ...conflict,
        ...(named ? { title: named } : {}),
        loans: conflict.loans.map((loan) => ({ ...loan, ...sources.label(loan.personId, school) })),
      };
    });
    return { school, conflicts };
  });
}
