import { createHmac, randomBytes } from 'node:crypto';
import { maskCardPath, sameSecret } from '@educard/terminal-sdk';
import { type ModuleSteps, migrateModule, type SqlDatabase } from '../store/index.js';

/** The query parameter a body's URL carries its grant in. */
export const GRANT_PARAM = 'grant';

/** How long a grant lets its holder fetch; the bridge announces fresh ones well before. */
export const GRANT_TTL_MS = 24 * 3_600_000;

const STEPS: ModuleSteps = {
  sqlite: ['CREATE TABLE body_grant_keys (id INTEGER PRIMARY KEY CHECK (id = 1), secret BLOB NOT NULL)'],
  postgres: ['CREATE TABLE body_grant_keys (id INTEGER PRIMARY KEY CHECK (id = 1), secret BYTEA NOT NULL)'],
};

export type GrantCheck = 'ok' | 'missing' | 'expired' | 'invalid';

/**
 * Short-lived capabilities for the roster snapshot and catalogue bodies (every card with its name,
 * class and UID; issue 14 found them public). The bridge writes a grant into the body URL it
 * publishes on a school's retained topics, which only that school's devices may read: holding a live
 * grant for a path means having heard it there. A grant names one path (school, kind and version) and
 * an expiry, under an HMAC-SHA256 with a secret kept in the database, so every bridge sharing the
 * database signs and checks alike; the bridge's clock alone decides expiry, so a gateway without a
 * real-time clock is never refused for its own time. Gateways of the previous version fetch the URL
 * as given, grant and all: they interoperate unchanged.
 */
export class BodyGrants {
  private readonly secret: Buffer;

  constructor(
    db: SqlDatabase,
    private readonly now: () => Date = () => new Date(),
    readonly ttlMs = GRANT_TTL_MS,
  ) {
    migrateModule(db, 'grants', STEPS);
    // Whichever bridge comes first makes the secret; the others read it.
    db.prepare('INSERT INTO body_grant_keys (id, secret) VALUES (1, ?) ON CONFLICT (id) DO NOTHING').run(
      randomBytes(32),
    );
    this.secret = (
      db.prepare('SELECT secret FROM body_grant_keys WHERE id = 1').get() as { secret: Buffer }
    ).secret;
  }

  /** The path with a grant to GET it, good until `ttlMs` from now. */
  sign(path: string): string {
    const expires = Math.floor((this.now().getTime() + this.ttlMs) / 1000);
    return `${path}?${GRANT_PARAM}=${expires}.${this.mac(path, expires)}`;
  }

  /** Whether `grant` (the query parameter as received) lets its holder GET `path` now. */
  check(path: string, grant: unknown): GrantCheck {
    if (typeof grant !== 'string' || grant === '') return 'missing';
    const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(grant);
    if (!match) return 'invalid';
    const expires = Number(match[1]);
    if (!sameSecret(match[2] as string, this.mac(path, expires))) return 'invalid';
    return expires * 1000 <= this.now().getTime() ? 'expired' : 'ok';
  }

  private mac(path: string, expires: number): string {
    return createHmac('sha256', this.secret).update(`GET ${path}\n${expires}`).digest('base64url');
  }
}

/** A request URL with any grant's value hidden, for log lines: a grant is a secret while it lives. */
export function withoutGrant(url: string): string {
  return url.replace(new RegExp(`([?&]${GRANT_PARAM}=)[^&#]*`, 'g'), '$1…');
}

/** How a request appears in the HTTP log: Fastify's fields, with a grant's value hidden and card ids masked. */
export function requestLogView(request: {
  method: string;
  url: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}) {
  return {
    method: request.method,
    url: maskCardPath(withoutGrant(request.url)),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/**
 * The check of a body route: true when the request holds a live grant for `path`; otherwise the
 * answer is sent (401, with why) and a log line written, and the body is never read.
 */
export function requireGrant(
  grants: BodyGrants,
  path: string,
  request: { query: unknown; log: { info: (fields: object, message: string) => void } },
  reply: { code: (status: number) => { send: (body: unknown) => unknown } },
): boolean {
  const check = grants.check(path, (request.query as Record<string, unknown> | undefined)?.[GRANT_PARAM]);
  if (check === 'ok') return true;
  request.log.info({ path, grant: check }, 'body refused: no live grant');
  reply.code(401).send({
    error: `grant-${check}`,
    message:
      check === 'expired'
        ? 'the grant in this URL has expired: take the URL the bridge publishes now'
        : 'this body is served to the devices of its school only, through the URL the bridge publishes to them',
  });
  return false;
}
