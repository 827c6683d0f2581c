import { createServer, type Server } from 'node:http';
import { sameBearer } from '@educard/terminal-sdk';
import { listen, localUrl } from '@educard/terminal-sdk/listeners';
import type { Logger } from '../log/index.js';
import type { MetricsConfig } from './config.js';
import type { GatewayMetrics } from './metrics.js';

/** A scrape is one small request: anything slower or more numerous is not Prometheus. */
const MAX_CONNECTIONS = 16;
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Serves `GET /metrics` and nothing else. Bounded before anything is read: a few connections at a
 * time, short header and request timeouts, no request body taken, and the token (when configured)
 * checked before the registry is touched.
 */
export class MetricsServer {
  readonly server: Server;

  constructor(
    private readonly config: MetricsConfig,
    metrics: GatewayMetrics,
    private readonly logger: Logger,
  ) {
    this.server = createServer((request, response) => {
      if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
        return;
      }
      if (config.token && !sameBearer(request.headers.authorization, config.token)) {
        response
          .writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="metrics"' })
          .end('GET /metrics takes the metrics token as a bearer token\n');
        return;
      }
      metrics.text().then(
        (text) => response.writeHead(200, { 'content-type': metrics.contentType }).end(text),
        (error: unknown) => {
          logger.error({ err: error }, 'metrics could not be collected');
          response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be collected\n');
        },
      );
    });
    this.server.maxConnections = MAX_CONNECTIONS;
    this.server.headersTimeout = REQUEST_TIMEOUT_MS;
    this.server.requestTimeout = REQUEST_TIMEOUT_MS;
  }

  async start(): Promise<void> {
    await listen(this.server, this.config.host, this.config.port);
    this.logger.info({ url: this.url, token: Boolean(this.config.token) }, 'metrics served');
  }

  get url(): string {
    return `${localUrl(this.server, this.config.host)}/metrics`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
