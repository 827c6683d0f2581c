import { describeIssues } from '@educard/terminal-sdk';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { type AuditSink, auditActor, type Guard } from '../access/index.js';
import { ClassJson, IdentifierJson } from '../contract-check/index.js';
import { sendCsv } from '../csv/index.js';
import { type Directory, DirectoryClass, DirectorySchool, SchoolTimes } from '../directory/index.js';
import type { ProtectedApp } from '../http/index.js';
import { type ParentNoticeSource, withParentNotices } from './parent-notices.js';
import { type Attendance, AttendanceQueryRefused } from './service.js';

/** HH:MM, as the directory holds times. */
const Clock = SchoolTimes.shape.bellTime.unwrap();

const TimesBody = z
  .object({
    bellTime: Clock,
    cutoffTime: Clock,
    dismissalTime: Clock,
    name: z.string().min(1).max(128).optional(),
  })
  .refine((t) => t.bellTime <= t.cutoffTime, {
    message: 'the cut-off must not be before the bell',
    path: ['cutoffTime'],
  })
  .refine((t) => t.bellTime < t.dismissalTime, {
    message: 'dismissal must be after the bell',
    path: ['dismissalTime'],
  });

const ClassBody = DirectoryClass.omit({ school: true, id: true });

function refused(reply: FastifyReply, error: unknown) {
  if (error instanceof AttendanceQueryRefused)
    return reply
      .code(error.status)
      .send({ error: error.status === 404 ? 'not-found' : 'bad-request', message: error.message });
  throw error;
}

/**
 * Attendance reads (a head teacher only their class: a request without `class` is school-wide) and
 * the directory writes of schools without a central feed. A day's JSON says, beside each absent
 * pupil, what their parents were told (`parentNotices`); the CSV is the register alone.
 */
export function attendanceRoutes(
  attendance: Attendance,
  directory: Directory,
  audit: AuditSink,
  parentNotices?: ParentNoticeSource,
) {
  return (app: ProtectedApp, guard: Guard): void => {
    app.get(
      '/v1/attendance/:school/days/:date',
      {
        schema: {
          params: {
            type: 'object',
            required: ['school', 'date'],
            properties: {
              school: IdentifierJson,
              date: { type: 'string', pattern: '^(?:\\d{4}-\\d\\d-\\d\\d|today)(?:\\.csv)?$' },
            },
          },
          querystring: { type: 'object', properties: { class: ClassJson } },
        },
      },
      async (request, reply) => {
        const { school, date: asked } = request.params as { school: string; date: string };
        const className = (request.query as { class?: string }).class;
        if (!guard(request, reply, 'attendance.read', { school, ...(className ? { className } : {}) }))
          return;
        const csv = asked.endsWith('.csv');
        try {
          const date = attendance.resolveDate(school, csv ? asked.slice(0, -4) : asked);
          if (!csv) {
            const day = attendance.attendanceDay(school, date, className);
            return parentNotices ? withParentNotices(day, parentNotices) : day;
          }
          // Made before any header is set: a refusal (an unknown class) must still go out as JSON.
          const body = attendance.attendanceCsv(school, date, className);
          const name = `attendance-${school}-${date}${className ? `-${className}` : ''}.csv`;
          return sendCsv(reply, name, body);
        } catch (error) {
          return refused(reply, error);
        }
      },
    );

    app.get(
      '/v1/attendance/:school/trend',
      {
        schema: {
          params: { type: 'object', required: ['school'], properties: { school: IdentifierJson } },
          querystring: {
            type: 'object',
            properties: { weeks: { type: 'integer', minimum: 1, maximum: 53, default: 8 }, class: ClassJson },
          },
        },
      },
      async (request, reply) => {
        const { school } = request.params as { school: string };
        const { weeks, class: className } = request.query as { weeks: number; class?: string };
        if (!guard(request, reply, 'attendance.read', { school, ...(className ? { className } : {}) }))
          return;
        try {
          return attendance.attendanceTrend(school, { weeks, ...(className ? { className } : {}) });
        } catch (error) {
          return refused(reply, error);
        }
      },
    );

    app.get(
      '/v1/attendance/:school/consecutive-absences',
      {
        schema: {
          params: { type: 'object', required: ['school'], properties: { school: IdentifierJson } },
          querystring: {
            type: 'object',
            properties: { days: { type: 'integer', minimum: 2, maximum: 20, default: 3 }, class: ClassJson },
          },
        },
      },
      async (request, reply) => {
        const { school } = request.params as { school: string };
        const { days, class: className } = request.query as { days: number; class?: string };
        if (!guard(request, reply, 'attendance.read', { school, ...(className ? { className } : {}) }))
          return;
        try {
          return attendance.consecutiveAbsences(school, {
            minDays: days,
            ...(className ? { className } : {}),
          });
        } catch (error) {
          return refused(reply, error);
        }
      },
    );

    app.put(
      '/v1/schools/:school/times',
      {
        schema: { params: { type: 'object', required: ['school'], properties: { school: IdentifierJson } } },
      },
      async (request, reply) => {
        const { school } = request.params as { school: string };
        if (!guard(request, reply, 'roster.manage', { school })) return;
        const body = TimesBody.safeParse(request.body);
        if (!body.success)
          return reply.code(400).send({ error: 'bad-request', message: describeIssues(body.error) });
        const { name, ...times } = body.data;
        const entry = DirectorySchool.parse({
          id: school,
          name: name ?? directory.school(school)?.name ?? school,
          times,
        });
        directory.putSchool(entry);
        request.log.info({ school, ...times }, 'school times set');
        audit.record({
          ...auditActor(request),
          action: 'schools.times.set',
          target: `school:${school}`,
          school,
          outcome: 'ok',
          detail: times,
        });
        return entry;
      },
    );

    app.put(
      '/v1/schools/:school/classes/:class',
      {
        schema: {
          params: {
            type: 'object',
            required: ['school', 'class'],
            properties: { school: IdentifierJson, class: ClassJson },
          },
        },
      },
      async (request, reply) => {
        const { school, class: id } = request.params as { school: string; class: string };
        if (!guard(request, reply, 'roster.manage', { school })) return;
        const body = ClassBody.safeParse(request.body);
        if (!body.success)
          return reply.code(400).send({ error: 'bad-request', message: describeIssues(body.error) });
        const entry = DirectoryClass.parse({ ...body.data, school, id });
        directory.putClass(entry);
        request.log.info({ school, class: id }, 'class set');
        audit.record({
          ...auditActor(request),
          action: 'schools.class.set',
          target: `class:${school}/${id}`,
          school,
          outcome: 'ok',
        });
        return entry;
      },
    );
  };
}
