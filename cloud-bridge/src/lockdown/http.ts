import { describeIssues, Identifier } from '@educard/terminal-sdk';
import { z } from 'zod';
import { type AuditSink, auditActor, type Guard } from '../access/index.js';
import type { ProtectedApp } from '../http/index.js';
import type { Lockdowns } from './service.js';

const SchoolParams = z.object({ school: Identifier });
const LockdownBody = z.strictObject({
  active: z.boolean(),
  /** Said to the gates and in the alarm: "intruder at the north gate", "drill". */
  reason: z.string().trim().min(1).max(200).optional(),
});

/**
 * `GET /v1/schools/{school}/lockdown` (the lockdown and each gate's part in it) and `POST` (put the
 * school's gates in lockdown, or lift it: `lockdown.set`, audited).
 */
export function lockdownRoutes(lockdowns: Lockdowns, audit: AuditSink) {
  return (app: ProtectedApp, guard: Guard): void => {
    app.get('/v1/schools/:school/lockdown', async (request, reply) => {
      const params = SchoolParams.safeParse(request.params);
      if (!guard(request, reply, 'devices.read', params.success ? params.data : {})) return;
      if (!params.success)
        return reply.code(400).send({ error: 'bad-request', message: describeIssues(params.error) });
      return lockdowns.status(params.data.school);
    });

    app.post('/v1/schools/:school/lockdown', async (request, reply) => {
      const params = SchoolParams.safeParse(request.params);
      const body = LockdownBody.safeParse(request.body ?? {});
      if (!guard(request, reply, 'lockdown.set', params.success ? params.data : {})) return;
      if (!params.success || !body.success) {
        const error = (params.success ? body.error : params.error) as z.ZodError;
        return reply.code(400).send({ error: 'bad-request', message: describeIssues(error) });
      }
      const { school } = params.data;
      const { active, reason } = body.data;
      const known = lockdowns.status(school);
      if (known.lockdown.version === 0 && known.gates.length === 0)
        return reply
          .code(404)
          .send({ error: 'not-found', message: `school ${school} has no gate enrolled at this bridge` });
      const by = request.principal?.username ?? 'anonymous';
      const made = await lockdowns.set(school, { active, reason }, by);
      audit.record({
        ...auditActor(request),
        action: 'lockdown.set',
        target: `school:${school}`,
        school,
        outcome: 'ok',
        detail: { active, version: made.lockdown.version, sent: made.sent, ...(reason ? { reason } : {}) },
      });
      return made;
    });
  };
}
