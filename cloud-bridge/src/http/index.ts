import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { EnrollmentRefused, EnrollmentRequest, enroll } from '../devices/index.js';
import type { BridgeStore } from '../store/index.js';

export interface HttpDeps {
  store: BridgeStore;
  adminToken: string;
  logger: Logger;
  /** What an enrolled device is told about where to connect. */
  mqttUrl: () => string;
  /** Called after a device is revoked, to cut its live connection. */
  onRevoke: (deviceId: string) => void;
  health: () => Record<string, unknown>;
}

const Identifier = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' } as const;

function sameToken(given: string, held: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(held);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The bridge's HTTP API (docs/api.md): JSON in and out, schemas checked by Fastify, admin routes behind a bearer token. */
export function buildHttpApi(deps: HttpDeps) {
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }),
    bodyLimit: 25 * 1024 * 1024,
  });
  const { store } = deps;

  const requireAdmin = async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? '';
    if (!header.startsWith('Bearer ') || !sameToken(header.slice(7), deps.adminToken)) {
      request.log.warn({ url: request.url }, 'admin request refused: missing or wrong token');
      return reply
        .code(401)
        .send({ error: 'unauthorized', message: 'send the admin token as "Authorization: Bearer TOKEN"' });
    }
  };

  app.get('/health', async () => ({ ok: true, ...deps.health() }));

  app.post(
    '/v1/enroll',
    {
      schema: {
        body: {
          type: 'object',
          required: ['token', 'deviceId', 'publicKey'],
          properties: { token: { type: 'string' }, deviceId: Identifier, publicKey: { type: 'string' } },
        },
      },
    },
    async (request, reply) => {
      const parsed = EnrollmentRequest.safeParse(request.body);
      if (!parsed.success)
        return reply.code(400).send({ error: 'bad-request', message: parsed.error.issues[0]?.message });
      try {
        const granted = enroll(store, parsed.data);
        request.log.info({ device: parsed.data.deviceId, school: granted.school }, 'device enrolled');
        return {
          school: granted.school,
          mqtt: { url: deps.mqttUrl(), username: granted.username, password: granted.password },
        };
      } catch (error) {
        if (error instanceof EnrollmentRefused) {
          request.log.warn({ device: parsed.data.deviceId, reason: error.message }, 'enrollment refused');
          return reply.code(403).send({ error: 'enrollment-refused', message: error.message });
        }
        throw error;
      }
    },
  );

  app.register(async (admin) => {
    admin.addHook('onRequest', requireAdmin);

    admin.post(
      '/v1/tokens',
      {
        schema: {
          body: {
            type: 'object',
            required: ['school'],
            properties: {
              school: Identifier,
              count: { type: 'integer', minimum: 1, maximum: 500, default: 1 },
              ttlHours: { type: 'number', exclusiveMinimum: 0, maximum: 24 * 90, default: 72 },
            },
          },
        },
      },
      async (request) => {
        const { school, count, ttlHours } = request.body as {
          school: string;
          count: number;
          ttlHours: number;
        };
        const expiresAt = new Date(Date.now() + ttlHours * 3_600_000).toISOString();
        return { school, expiresAt, tokens: store.createTokens(school, count, expiresAt) };
      },
    );

    admin.get(
      '/v1/devices',
      { schema: { querystring: { type: 'object', properties: { school: Identifier } } } },
      async (request) => ({
        devices: store
          .listDevices((request.query as { school?: string }).school)
          .map(({ secretHash: _s, ...d }) => d),
      }),
    );

    admin.post(
      '/v1/devices/:id/revoke',
      { schema: { params: { type: 'object', properties: { id: Identifier } } } },
      async (request, reply) => {
        const { id } = request.params as { id: string };
        if (!store.getDevice(id))
          return reply.code(404).send({ error: 'not-found', message: `no device ${id}` });
        const revoked = store.revokeDevice(id, new Date().toISOString());
        deps.onRevoke(id);
        request.log.info({ device: id }, 'device revoked');
        return { device: id, revoked, alreadyRevoked: !revoked };
      },
    );

    admin.get(
      '/v1/events',
      {
        schema: {
          querystring: {
            type: 'object',
            properties: {
              school: Identifier,
              device: Identifier,
              person: Identifier,
              type: { type: 'string', maxLength: 64 },
              from: { type: 'string', format: 'date-time' },
              to: { type: 'string', format: 'date-time' },
              after: { type: 'integer', minimum: 0 },
              limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            },
          },
        },
      },
      async (request) => {
        const q = request.query as Record<string, string | number | undefined>;
        const events = store.queryEvents({
          ...(q.school ? { school: String(q.school) } : {}),
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
