import {
  Calendar,
  CardEntry,
  Command,
  Credential,
  describeIssues,
  EnrollmentRequest,
  type EnrollmentResponse,
  enrollmentTokenHash,
  fromBase64Url,
  Identifier as IdentifierSchema,
  IsoTime,
  KeyRole,
  keyIdOf,
  maskCardId,
  ROSTER_VARIANTS,
  RosterVariant,
  rootFingerprint,
  Schedule,
} from '@educard/terminal-sdk';
import {
  addressMatcher,
  boundedHttpServer,
  type HttpListenerLimits,
  RefusalCounter,
} from '@educard/terminal-sdk/listeners';
import fastifyCookie from '@fastify/cookie';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  type AuditSink,
  adminTokenResolver,
  auditActor,
  authenticate,
  type Guard,
  makeGuard,
  type PrincipalResolver,
} from '../access/index.js';
import type { DeviceAccounts } from '../broker/index.js';
import type { CommandSender } from '../commands/index.js';
import { IdentifierJson } from '../contract-check/index.js';
import { EnrollmentRefused, enroll } from '../devices/index.js';
import { type BodyGrants, requestLogView, requireGrant } from '../grants/index.js';
import { type LibraryHttpDeps, libraryAdminRoutes, libraryPublicRoutes } from '../library/index.js';
import {
  type ImportInput,
  KeySetRefused,
  parseRosterCsv,
  RosterChangeRefused,
  type RosterService,
  type RowProblem,
  snapshotPath,
} from '../roster/index.js';
import type { BridgeStore, Device } from '../store/index.js';
import { validatePathParams } from './params.js';

const ReissueBody = z.union([
  z.object({ card: CardEntry }),
  z.object({ newCardId: IdentifierSchema, credential: Credential, validUntil: IsoTime.optional() }),
]);

const CommitKeySet = z.object({ pendingId: z.string().min(1).max(64), keySet: z.unknown() });
/** A rotation may also name the card issuers of the next key set (none: `null`), or keep those in force. */
const PrepareRotation = z.object({ cardIssuers: KeyRole.nullable().optional() }).prefault({});

const RosterImportJson = z.object({
  cards: z.array(z.unknown()).max(1_000_000),
  calendar: Calendar.optional(),
  schedules: z.array(Schedule).optional(),
  dryRun: z.boolean().optional(),
});

/** What the HTTP listener takes before authentication, and whom it believes about the client. */
export interface HttpListening {
  limits: HttpListenerLimits & { bodyBytes: number; importBodyBytes: number };
  /** Reverse proxies (addresses, CIDR ranges) whose X-Forwarded-For and -Proto are believed. */
  trustProxy: readonly string[];
}

/**
 * The bulk imports: the only routes with the large body limit. Each sits behind authentication, which
 * runs before a byte of the body is read, so a stranger's upload is refused unread.
 */
const BULK_IMPORTS = new Set(['/v1/roster/:school/import', '/v1/catalogue/:school/import']);

export interface HttpDeps {
  store: BridgeStore;
  listening: HttpListening;
  roster: RosterService;
  adminToken: string;
  logger: Logger;
  /** What an enrolled device is told about where to connect. */
  mqttUrl: () => string;
  /** The broker's device accounts: provisioned at enrollment, removed at revocation (cutting the device off). */
  accounts: DeviceAccounts;
  /**
   * Called after a device is enrolled; on a new epoch the acknowledgement its old key was given is
   * withdrawn, so the new chain never sees it.
   */
  onEnroll?: (device: Device, change: { newEpoch: boolean; previousSchool?: string }) => void;
  /** What /health adds to its answer (the broker's and ingest's state). */
  health: () => Record<string, unknown>;
  /** Signs and sends the commands the admin routes give devices. */
  commands: CommandSender;
  /** The grants body URLs carry: snapshot and catalogue bodies are served to their school's devices only. */
  grants: BodyGrants;
  /** The library's catalogue and loan ledger routes (docs/api.md, "Library"). */
  library?: LibraryHttpDeps;
  /** Who else may call the protected routes besides the admin token (signed-in accounts). */
  resolvers?: PrincipalResolver[];
  /** The schools the bridge knows (rosters and directory), with their names where known. */
  schools?: () => { id: string; name?: string }[];
  /** Where refused and administrative requests are written down. */
  audit: AuditSink;
  /** Routes anyone may call (signing in), registered after the cookie parser. */
  publicRoutes?: ((app: FastifyInstance) => void)[];
  /** Told of every card status change the API makes, after it is published (operations keeps the history). */
  onCardChange?: (change: CardChange) => void;
  /** Signs again, after a key rotation, what else the roster keys sign (the venues' hotlist and plans). */
  onKeysRotated?: () => Promise<unknown>;
  /** More protected routes (attendance, operations, central sync, accounts), each checking its actions. */
  routes?: ((app: ProtectedApp, guard: Guard) => void)[];
}

/** A card status set through the API, and the roster version that carries it to the gates. */
export interface CardChange {
  cardId: string;
  school: string;
  personId: string;
  status: CardEntry['status'];
  version: number;
  actor: string;
  at: string;
}

/** The scope of the protected routes: every request in it has a principal. */
export type ProtectedApp = FastifyInstance;

interface RosterKeySetView {
  version: number;
  issuedAt: string;
  root: { keys: { keyId: string }[]; threshold: number };
  roster: { keys: { keyId: string }[] };
  cardIssuers?: { keys: { keyId: string }[] };
  commands?: { keys: { keyId: string }[] };
  releases?: { keys: { keyId: string }[]; threshold: number };
}

/** The bridge's HTTP API (docs/api.md): JSON in and out, schemas checked by Fastify, admin routes behind a bearer token. */
export function buildHttpApi(deps: HttpDeps) {
  const { limits, trustProxy } = deps.listening;
  const logger = deps.logger.child({ component: 'http' }, { serializers: { req: requestLogView } });
  const refusals = new RefusalCounter(logger, 'bridge http');
  const proxy = addressMatcher(trustProxy);
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: limits.bodyBytes,
    trustProxy: trustProxy.length > 0 ? [...trustProxy] : false,
    // The proxies carry everyone's requests: they are held to the total, not to the per-address cap.
    serverFactory: (handler) => boundedHttpServer(handler, limits, { refusals, exempt: proxy }),
  });
  const { store } = deps;
  validatePathParams(app);
  app.addHook('onRoute', (route) => {
    if (BULK_IMPORTS.has(route.url)) route.bodyLimit = limits.importBodyBytes;
  });

  const requirePrincipal = authenticate([adminTokenResolver(deps.adminToken), ...(deps.resolvers ?? [])]);
  const guard = makeGuard(deps.audit);
  const audited = (
    request: Parameters<Guard>[0],
    action: string,
    fields: { target?: string; school?: string; outcome?: 'ok' | 'failed'; detail?: Record<string, unknown> },
  ) => deps.audit.record({ ...auditActor(request), action, outcome: 'ok', ...fields });
  const cardChanged = (
    request: Parameters<Guard>[0],
    card: CardEntry,
    status: CardEntry['status'],
    version: number,
  ) =>
    deps.onCardChange?.({
      cardId: card.cardId,
      school: card.school,
      personId: card.personId,
      status,
      version,
      actor: request.principal?.username ?? 'anonymous',
      at: new Date().toISOString(),
    });

  // Sessions of the pages ride in a cookie; the parser comes before every route that reads one.
  app.register(fastifyCookie);
  app.register(async (open) => {
    for (const routes of deps.publicRoutes ?? []) routes(open);
  });

  app.get('/health', async () => ({
    ok: true,
    ...deps.health(),
    http: { refused: { limits: refusals.counts.limits ?? 0 } },
  }));

  app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  // The root keys devices pin at provisioning; a technician checks them against a fingerprint.
  app.get('/v1/roster/anchor', async () => deps.roster.anchor());

  // Gateways fetch snapshot bodies here, with the grant the bridge published them in the URL; each is
  // checked against its signed manifest's digest.
  // The desk roster's (the whole roster's) at the path gateways before variants know, the gate's beside it.
  for (const variant of ROSTER_VARIANTS) {
    app.get(snapshotPath(':school', ':version', variant), async (request, reply) => {
      const { school, version } = request.params as { school: string; version: number };
      if (!requireGrant(deps.grants, snapshotPath(school, version, variant), request, reply)) return reply;
      const body = deps.roster.snapshotBody(school, version, variant);
      if (!body)
        return reply.code(404).send({ error: 'not-found', message: `no snapshot ${version} for ${school}` });
      return reply.type('application/json').send(Buffer.from(body));
    });
  }

  // The latest snapshot's manifest, as the retained message carries it: for a device that cannot wait.
  app.get('/v1/roster/:school/latest', async (request, reply) => {
    const { school } = request.params as { school: string };
    const asked = RosterVariant.safeParse((request.query as { variant?: unknown }).variant ?? 'desk');
    if (!asked.success)
      return reply.code(400).send({ error: 'bad-request', message: 'variant is gate or desk' });
    const latest = deps.roster.latestSnapshot(school, asked.data);
    if (!latest) return reply.code(404).send({ error: 'not-found', message: `no roster for ${school}` });
    return latest;
  });

  if (deps.library) libraryPublicRoutes(app, deps.library, deps.grants);

  app.post(
    '/v1/enroll',
    {
      schema: {
        body: {
          type: 'object',
          required: ['token', 'deviceId', 'publicKey'],
          properties: { token: { type: 'string' }, deviceId: IdentifierJson, publicKey: { type: 'string' } },
        },
      },
    },
    async (request, reply) => {
      const parsed = EnrollmentRequest.safeParse(request.body);
      if (!parsed.success)
        return reply.code(400).send({ error: 'bad-request', message: parsed.error.issues[0]?.message });
      const { deviceId, publicKey, token } = parsed.data;
      try {
        const now = new Date();
        const refusal = deps.accounts.refusal(deviceId);
        if (refusal) throw new EnrollmentRefused(403, refusal);
        const mqttUrl = deps.mqttUrl();
        const enrolled = enroll(
          store,
          parsed.data,
          (school) =>
            deps.roster.signEnrollment({
              device: deviceId,
              publicKey,
              school,
              tokenSha256: enrollmentTokenHash(token),
              mqttUrl,
              username: deviceId,
              issuedAt: now.toISOString(),
            }),
          now,
        );
        const { school, epoch } = enrolled.device;
        try {
          await deps.accounts.provision({ device: deviceId, school, password: enrolled.password });
        } catch (error) {
          request.log.error(
            { device: deviceId, err: (error as Error).message },
            'enrolled, but the broker account could not be provisioned',
          );
          return reply.code(503).send({
            error: 'broker-unavailable',
            message: `the broker could not be given this device's account (${(error as Error).message}): revoke the device and enroll it again with a new token once the broker is back`,
          });
        }
        request.log.info({ device: deviceId, school, epoch, newEpoch: enrolled.newEpoch }, 'device enrolled');
        deps.onEnroll?.(enrolled.device, {
          newEpoch: enrolled.newEpoch,
          ...(enrolled.previousSchool !== undefined ? { previousSchool: enrolled.previousSchool } : {}),
        });
        const answer: EnrollmentResponse = {
          school,
          mqtt: { url: mqttUrl, username: deviceId, password: enrolled.password },
          keySets: enrolled.proof.keySets as EnrollmentResponse['keySets'],
          proof: enrolled.proof.proof as EnrollmentResponse['proof'],
        };
        return answer;
      } catch (error) {
        if (error instanceof EnrollmentRefused) {
          request.log.warn({ device: deviceId, reason: error.message }, 'enrollment refused');
          return reply.code(error.status).send({
            error: error.status === 409 ? 'device-enrolled' : 'enrollment-refused',
            message: error.message,
          });
        }
        throw error;
      }
    },
  );

  app.register(async (admin) => {
    admin.addHook('onRequest', requirePrincipal);
    const { library } = deps;
    if (library) admin.register(async (scope) => libraryAdminRoutes(scope, library, guard));
    for (const routes of deps.routes ?? []) routes(admin, guard);

    // The schools a caller may pick from in the pages: all for a district account, else its own.
    admin.get('/v1/schools', async (request) => {
      const own = request.principal?.school;
      const all = deps.schools?.() ?? store.rosterSchools().map((id) => ({ id }));
      return { schools: own ? all.filter((s) => s.id === own) : all };
    });

    admin.post(
      '/v1/tokens',
      {
        schema: {
          body: {
            type: 'object',
            required: ['school'],
            properties: {
              school: IdentifierJson,
              count: { type: 'integer', minimum: 1, maximum: 500, default: 1 },
              ttlHours: { type: 'number', exclusiveMinimum: 0, maximum: 24 * 90, default: 72 },
              device: IdentifierJson,
            },
          },
        },
      },
      async (request, reply) => {
        const { school, count, ttlHours, device } = request.body as {
          school: string;
          count: number;
          ttlHours: number;
          device?: string;
        };
        if (!guard(request, reply, 'devices.manage', { school })) return;
        if (device !== undefined && count !== 1)
          return reply.code(400).send({
            error: 'bad-request',
            message: 'a token bound to a device is made one at a time (count 1)',
          });
        const expiresAt = new Date(Date.now() + ttlHours * 3_600_000).toISOString();
        const tokens = store.createTokens(school, count, expiresAt, device);
        audited(request, 'tokens.create', {
          target: device ? `device:${device}` : `school:${school}`,
          school,
          detail: { count, expiresAt, ...(device ? { device } : {}) },
        });
        return { school, expiresAt, tokens, ...(device ? { device } : {}) };
      },
    );

    admin.post('/v1/roster/:school/import', async (request, reply) => {
      const { school } = request.params as { school: string };
      if (!guard(request, reply, 'roster.manage', { school })) return;
      const dryRun = (request.query as { dryRun?: string }).dryRun === 'true';
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
    });

    const lifecycle = (path: string, status: CardEntry['status']) =>
      admin.post(path, async (request, reply) => {
        const { cardId } = request.params as { cardId: string };
        const card = store.findCard(cardId);
        if (!guard(request, reply, 'cards.change', { school: card?.school ?? '' })) return;
        try {
          const version = await deps.roster.setStatus(cardId, status);
          request.log.info({ card: maskCardId(cardId), status, version }, 'card status changed');
          audited(request, 'cards.status', {
            target: `card:${cardId}`,
            school: card?.school ?? '',
            detail: { status, version },
          });
          if (card) cardChanged(request, card, status, version);
          return { cardId, status, version };
        } catch (error) {
          if (error instanceof RosterChangeRefused)
            return reply.code(error.status).send({ error: 'refused', message: error.message });
          throw error;
        }
      });
    lifecycle('/v1/cards/:cardId/lost', 'lost');
    lifecycle('/v1/cards/:cardId/cancel', 'cancelled');
    lifecycle('/v1/cards/:cardId/suspend', 'suspended');
    lifecycle('/v1/cards/:cardId/reactivate', 'active');

    admin.post('/v1/cards/:cardId/reissue', async (request, reply) => {
      const { cardId } = request.params as { cardId: string };
      const old = store.findCard(cardId);
      if (!guard(request, reply, 'cards.change', { school: old?.school ?? '' })) return;
      const body = ReissueBody.safeParse(request.body);
      if (!body.success)
        return reply.code(400).send({ error: 'bad-request', message: describeIssues(body.error) });
      try {
        const { card, version } = await deps.roster.reissue(
          cardId,
          'card' in body.data ? body.data.card : body.data,
        );
        request.log.info(
          { card: maskCardId(cardId), newCard: maskCardId(card.cardId), version },
          'card reissued',
        );
        audited(request, 'cards.reissue', {
          target: `card:${cardId}`,
          school: card.school,
          detail: { newCardId: card.cardId, version },
        });
        if (old) cardChanged(request, old, 'cancelled', version);
        cardChanged(request, card, card.status, version);
        return { cardId, newCardId: card.cardId, version };
      } catch (error) {
        if (error instanceof RosterChangeRefused)
          return reply.code(error.status).send({ error: 'refused', message: error.message });
        throw error;
      }
    });

    admin.get('/v1/keys', async (request, reply) => {
      if (!guard(request, reply, 'keys.manage')) return;
      const { keys } = deps.roster;
      const anchor = keys.anchor;
      const keyIds = (role: { keys: { keyId: string }[] }) => role.keys.map((k) => k.keyId);
      return {
        anchor,
        fingerprint: rootFingerprint(anchor),
        keySetVersion: keys.version,
        rosterKeyIds: keys.signers.map((k) => keyIdOf(k.publicKey)),
        commandKeyIds: keys.commandSigners.map((k) => keyIdOf(k.publicKey)),
        rootOnBridge: keys.rootOnBridge,
        ...(keys.pendingRotation ? { pending: keys.pendingRotation } : {}),
        keySets: keys.keySets.map((text) => {
          const signed = (JSON.parse(text) as { signed: RosterKeySetView }).signed;
          return {
            version: signed.version,
            issuedAt: signed.issuedAt,
            rootKeyIds: keyIds(signed.root),
            rootThreshold: signed.root.threshold,
            rosterKeyIds: keyIds(signed.roster),
            cardIssuerKeyIds: signed.cardIssuers ? keyIds(signed.cardIssuers) : [],
            ...(signed.commands ? { commandKeyIds: keyIds(signed.commands) } : {}),
            ...(signed.releases
              ? { releaseKeyIds: keyIds(signed.releases), releaseThreshold: signed.releases.threshold }
              : {}),
          };
        }),
      };
    });

    admin.post('/v1/keys/roster/rotate/prepare', async (request, reply) => {
      if (!guard(request, reply, 'keys.manage')) return;
      const body = PrepareRotation.safeParse(request.body ?? {});
      if (!body.success)
        return reply.code(400).send({ error: 'bad-request', message: describeIssues(body.error) });
      const { cardIssuers } = body.data;
      const issuerKeys = cardIssuers?.keys ?? [];
      if (issuerKeys.some(({ keyId, publicKey }) => keyIdOf(fromBase64Url(publicKey)) !== keyId))
        return reply
          .code(400)
          .send({ error: 'bad-request', message: 'a card issuer key id does not match its key' });
      const prepared = await deps.roster.prepareRotation(cardIssuers === undefined ? {} : { cardIssuers });
      audited(request, 'keys.rotate.prepare', { detail: { version: prepared.keySet.version } });
      request.log.info(
        { version: prepared.keySet.version, pending: prepared.pendingId },
        'roster key rotation prepared',
      );
      return prepared;
    });

    admin.post('/v1/keys/releases/prepare', async (request, reply) => {
      if (!guard(request, reply, 'keys.manage')) return;
      const role = KeyRole.safeParse((request.body as { releases?: unknown } | undefined)?.releases);
      if (!role.success)
        return reply
          .code(400)
          .send({ error: 'bad-request', message: `releases: ${describeIssues(role.error)}` });
      const prepared = deps.roster.keys.prepareReleaseKeys(role.data);
      audited(request, 'keys.releases.prepare', {
        detail: { version: prepared.keySet.version, keyIds: role.data.keys.map((k) => k.keyId) },
      });
      return prepared;
    });

    admin.post('/v1/keys/keysets', async (request, reply) => {
      if (!guard(request, reply, 'keys.manage')) return;
      const body = CommitKeySet.safeParse(request.body);
      if (!body.success)
        return reply.code(400).send({ error: 'bad-request', message: describeIssues(body.error) });
      try {
        const committed = await deps.roster.commitKeySet(body.data.pendingId, body.data.keySet);
        // Catalogues are signed by the same keys: issued again under the new one, after the key sets.
        await deps.library?.catalogue.reissueStale();
        await deps.onKeysRotated?.();
        audited(request, 'keys.rotate.commit', { detail: { version: committed.version } });
        return committed;
      } catch (error) {
        if (error instanceof KeySetRefused) {
          request.log.warn({ reason: error.message }, 'key set refused');
          audited(request, 'keys.rotate.commit', { outcome: 'failed', detail: { reason: error.message } });
          return reply.code(error.status).send({ error: 'keyset-refused', message: error.message });
        }
        throw error;
      }
    });

    admin.get(
      '/v1/devices',
      { schema: { querystring: { type: 'object', properties: { school: IdentifierJson } } } },
      async (request, reply) => {
        const school = (request.query as { school?: string }).school ?? request.principal?.school;
        if (!guard(request, reply, 'devices.read', school ? { school } : {})) return;
        return { devices: store.listDevices(school).map(({ secretHash: _s, ...d }) => d) };
      },
    );

    admin.post(
      '/v1/devices/:id/revoke',
      { schema: { params: { type: 'object', properties: { id: IdentifierJson } } } },
      async (request, reply) => {
        const { id } = request.params as { id: string };
        const device = store.getDevice(id);
        if (!guard(request, reply, 'devices.manage', { school: device?.school ?? '' })) return;
        if (!device) return reply.code(404).send({ error: 'not-found', message: `no device ${id}` });
        const revoked = store.revokeDevice(id, new Date().toISOString());
        try {
          // Also when already revoked: asking again retries a cut-off the broker did not take.
          await deps.accounts.remove(id);
        } catch (error) {
          request.log.error(
            { device: id, err: (error as Error).message },
            'revoked, but the broker did not cut it off',
          );
          return reply.code(502).send({
            error: 'broker-unavailable',
            message: `device ${id} is revoked at the bridge (its events are refused), but the broker did not cut it off (${(error as Error).message}): revoke again once the broker is back`,
          });
        }
        request.log.info({ device: id }, 'device revoked');
        audited(request, 'devices.revoke', {
          target: `device:${id}`,
          school: device.school,
          detail: { alreadyRevoked: !revoked },
        });
        return { device: id, revoked, alreadyRevoked: !revoked };
      },
    );

    // A command to one device (`door.open`, `status.report`, …), signed with the bridge's command key:
    // the device checks it against its key set, whatever broker carries it.
    admin.post(
      '/v1/devices/:id/commands',
      {
        schema: {
          params: { type: 'object', properties: { id: IdentifierJson } },
          body: {
            type: 'object',
            required: ['name'],
            properties: {
              name: { type: 'string', maxLength: 64 },
              args: { type: 'object' },
              ttlSeconds: { type: 'integer', minimum: 1, maximum: 3600, default: 60 },
            },
          },
        },
      },
      async (request, reply) => {
        const { id } = request.params as { id: string };
        const { name, args, ttlSeconds } = request.body as {
          name: string;
          args?: unknown;
          ttlSeconds: number;
        };
        const device = store.getDevice(id);
        if (!guard(request, reply, 'devices.manage', { school: device?.school ?? '' })) return;
        if (!device) return reply.code(404).send({ error: 'not-found', message: `no device ${id}` });
        if (device.revokedAt)
          return reply.code(409).send({ error: 'revoked', message: `device ${id} is revoked` });
        const order = Command.safeParse({
          v: 1,
          id: 'check',
          expiresAt: new Date().toISOString(),
          name,
          args,
        });
        if (!order.success)
          return reply.code(400).send({ error: 'bad-request', message: describeIssues(order.error) });
        const sent = await deps.commands.send(
          device.school,
          id,
          { name: order.data.name, ...('args' in order.data ? { args: order.data.args } : {}) },
          ttlSeconds * 1000,
        );
        request.log.info({ device: id, name, command: sent.id }, 'command sent');
        audited(request, 'devices.command', {
          target: `device:${id}`,
          school: device.school,
          detail: { name, command: sent.id, ...(args ? { args } : {}) },
        });
        return reply.code(202).send({ device: id, name, ...sent });
      },
    );

    admin.get(
      '/v1/events',
      {
        schema: {
          querystring: {
            type: 'object',
            properties: {
              school: IdentifierJson,
              device: IdentifierJson,
              person: IdentifierJson,
              type: { type: 'string', maxLength: 64 },
              from: { type: 'string', format: 'date-time' },
              to: { type: 'string', format: 'date-time' },
              after: { type: 'integer', minimum: 0 },
              limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            },
          },
        },
      },
      async (request, reply) => {
        const q = request.query as Record<string, string | number | undefined>;
        const school = q.school ? String(q.school) : request.principal?.school;
        if (!guard(request, reply, 'events.read', school ? { school } : {})) return;
        const events = store.queryEvents({
          ...(school ? { school } : {}),
          ...(q.device ? { device: String(q.device) } : {}),
          ...(q.person ? { personId: String(q.person) } : {}),
          ...(q.type ? { type: String(q.type) } : {}),
          ...(q.from ? { fromAt: new Date(String(q.from)).toISOString() } : {}),
          ...(q.to ? { toAt: new Date(String(q.to)).toISOString() } : {}),
          ...(q.after !== undefined ? { afterId: Number(q.after) } : {}),
          limit: Number(q.limit ?? 100),
        });
        return { events, next: events.at(-1)?.id };
      },
    );
  });
  return app;
}
