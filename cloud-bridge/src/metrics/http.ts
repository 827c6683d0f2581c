import { sameBearer } from '@educard/terminal-sdk';
import type { FastifyInstance } from 'fastify';
import type { BridgeMetrics } from './metrics.js';

/**
 * `GET /metrics` for Prometheus, behind its own bearer token (`metrics.token` in the config): the
 * scrape job holds a credential that reads figures and nothing else, never the admin token. The
 * token is checked before anything is read.
 */
export function metricsRoutes(metrics: BridgeMetrics, token: string) {
  return (app: FastifyInstance): void => {
    app.get('/metrics', async (request, reply) => {
      if (!sameBearer(request.headers.authorization, token)) {
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer realm="metrics"')
          .send({ error: 'unauthorized', message: 'GET /metrics takes the metrics token as a bearer token' });
      }
      return reply.type(metrics.contentType).send(await metrics.text());
    });
  };
}
