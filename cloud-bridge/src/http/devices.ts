import { Command, describeIssues, Identifier } from '@educard/terminal-sdk';
import { z } from 'zod';
import { type RouteTypes, routeSchema } from '../contract-check/index.js';
import type { ProtectedApp, RouteContext } from './deps.js';

const ListRoute = { querystring: z.object({ school: Identifier.optional() }) };
const DeviceRoute = { params: z.object({ id: Identifier }) };
const CommandRoute = {
  params: z.object({ id: Identifier }),
  body: z.object({
    name: z.string().max(64),
    args: z.record(z.string(), z.unknown()).optional(),
    ttlSeconds: z.number().int().min(1).max(3600).default(60),
  }),
};
const TokensRoute = {
  body: z.object({
    school: Identifier,
    count: z.number().int().min(1).max(500).default(1),
    ttlHours: z
      .number()
      .positive()
      .max(24 * 90)
      .default(72),
    device: Identifier.optional(),
  }),
};

/**
 * Devices (docs/api.md, "Devices"): enrollment tokens, the enrolled devices, revoking one (its broker
 * account removed) and signed commands to one.
 */
export function deviceRoutes(admin: ProtectedApp, { deps, guard, audited }: RouteContext): void {
  const { store } = deps;

  admin.post<RouteTypes<typeof TokensRoute>>(
    '/v1/tokens',
    routeSchema(TokensRoute),
    async (request, reply) => {
      const { school, count, ttlHours, device } = request.body;
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

  admin.get<RouteTypes<typeof ListRoute>>('/v1/devices', routeSchema(ListRoute), async (request, reply) => {
    const school = request.query.school ?? request.principal?.school;
    if (!guard(request, reply, 'devices.read', school ? { school } : {})) return;
    return { devices: store.listDevices(school).map(({ secretHash: _s, ...d }) => d) };
  });

  admin.post<RouteTypes<typeof DeviceRoute>>(
    '/v1/devices/:id/revoke',
    routeSchema(DeviceRoute),
    async (request, reply) => {
      const { id } = request.params;
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
  admin.post<RouteTypes<typeof CommandRoute>>(
    '/v1/devices/:id/commands',
    routeSchema(CommandRoute),
    async (request, reply) => {
      const { id } = request.params;
      const { name, args, ttlSeconds } = request.body;
      const device = store.getDevice(id);
      if (!guard(request, reply, 'devices.manage', { school: device?.school ?? '' })) return;
      if (!device) return reply.code(404).send({ error: 'not-found', message: `no device ${id}` });
      if (device.revokedAt)
        return reply.code(409).send({ error: 'revoked', message: `device ${id} is revoked` });
      if (name === 'lockdown.set')
        return reply.code(400).send({
          error: 'bad-request',
          message: `a lockdown is the school's, not one device's: POST /v1/schools/${device.school}/lockdown`,
        });
      // The contract knows each command's arguments: checked as the device will check the order.
      const order = Command.safeParse({ v: 1, id: 'check', expiresAt: new Date().toISOString(), name, args });
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
}
