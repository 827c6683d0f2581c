import type { Guard } from '../access/index.js';
import type { ProtectedApp } from '../http/index.js';
import type { Notices } from './service.js';

const Identifier = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' } as const;

/**
 * The delivery status of parent notices. A school's staff see their school's webhooks; webhooks for
 * every school need a district-wide caller.
 */
export function noticesRoutes(notices: Notices) {
  return (app: ProtectedApp, guard: Guard): void => {
    app.get(
      '/v1/notices/status',
      { schema: { querystring: { type: 'object', properties: { school: Identifier } } } },
      async (request, reply) => {
        const school = (request.query as { school?: string }).school ?? request.principal?.school;
        if (!guard(request, reply, 'notices.manage', school ? { school } : {})) return;
        return { webhooks: notices.status(school) };
      },
    );
  };
}
