import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import {
  boundedHttpServer,
  type HttpListenerLimits,
  listen,
  localUrl,
  RefusalCounter,
} from '@educard/terminal-sdk/listeners';
import sirv from 'sirv';
import type { Logger } from '../log/index.js';

/** Where the build puts the pages (gateway/pages → gateway/dist/pages). */
export const PAGES_DIR = fileURLToPath(new URL('../../dist/pages', import.meta.url));

export interface PageServerOptions {
  host: string;
  port: number;
  /** Connections in all and per address, and how long a request may take to arrive. */
  limits: HttpListenerLimits;
  logger: Logger;
  /** The built pages; by default the ones beside this module. */
  dir?: string;
}

/**
 * Serves the terminal pages (desk.html, kiosk.html) to the school's LAN. The terminal broker's
 * WebSocket attaches to the same server at /mqtt, so a page reaches its gateway on its own origin
 * and no cross-origin rule is needed. It is on the school LAN for anyone to reach: connections are
 * capped in all and per address, and a request must arrive in time (docs/security.md).
 */
export class PageServer {
  readonly server: Server;

  constructor(private readonly options: PageServerOptions) {
    const dir = options.dir ?? PAGES_DIR;
    const pages = existsSync(dir) ? sirv(dir, { etag: true, gzip: false }) : undefined;
    if (!pages)
      options.logger.warn({ dir }, 'terminal pages not built (npm run build): only the broker is served');
    const refusals = new RefusalCounter(options.logger, 'page server');
    this.server = boundedHttpServer(
      (request, response) => {
        if (request.url === '/' || request.url === '') {
          response.writeHead(302, { location: '/desk.html' }).end();
          return;
        }
        if (!pages) {
          response.writeHead(404).end('pages not built');
          return;
        }
        pages(request, response, () => {
          response.writeHead(404).end('not found');
        });
      },
      options.limits,
      { refusals },
    );
  }

  async start(): Promise<void> {
    await listen(this.server, this.options.host, this.options.port);
    this.options.logger.info({ url: this.url }, 'terminal pages served');
  }

  get url(): string {
    return localUrl(this.server, this.options.host);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
