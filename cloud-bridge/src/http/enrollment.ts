import { EnrollmentRequest, type EnrollmentResponse, enrollmentTokenHash } from '@educard/terminal-sdk';
import type { FastifyInstance } from 'fastify';
import { type RouteTypes, routeSchema } from '../contract-check/index.js';
import { EnrollmentRefused, enroll } from '../devices/index.js';
import type { HttpDeps } from './deps.js';

const EnrollRoute = { body: EnrollmentRequest };

/**
 * Enrollment (docs/api.md): a device trades a one-time token for its broker account and the key sets it
 * pins. Public: the token is the credential.
 */
export function enrollmentRoutes(app: FastifyInstance, deps: HttpDeps): void {
  const { store } = deps;
  app.post<RouteTypes<typeof EnrollRoute>>('/v1/enroll', routeSchema(EnrollRoute), async (request, reply) => {
    const { deviceId, publicKey, token } = request.body;
    try {
      const now = new Date();
      const refusal = deps.accounts.refusal(deviceId);
      if (refusal) throw new EnrollmentRefused(403, refusal);
      const mqttUrl = deps.mqttUrl();
      const failover = deps.mqttFailover();
      const batchQos = deps.deviceBatchQos;
      const enrolled = enroll(
        store,
        request.body,
        (school) =>
          deps.roster.signEnrollment({
            device: deviceId,
            publicKey,
            school,
            tokenSha256: enrollmentTokenHash(token),
            mqttUrl,
            ...(failover.length > 0 ? { mqttFailover: failover } : {}),
            ...(batchQos !== undefined ? { mqttBatchQos: batchQos } : {}),
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
        mqtt: {
          url: mqttUrl,
          ...(failover.length > 0 ? { failover } : {}),
          ...(batchQos !== undefined ? { batchQos } : {}),
          username: deviceId,
          password: enrolled.password,
        },
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
  });
}
