import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { ReleaseArch, ReleaseVersion, Sha256Hex } from '@educard/terminal-sdk';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { type AuditSink, auditActor, type Guard } from '../access/index.js';
import type { BrokerPrincipal } from '../broker/index.js';
import { type RouteTypes, routeSchema } from '../contract-check/index.js';
import type { ProtectedApp } from '../http/index.js';
import type { ReleasesConfig } from './config.js';
import { ReleaseNotTaken, type Releases } from './service.js';
import { ByteRate, throttled } from './throttle.js';

const FileRoute = { params: z.object({ sha256: Sha256Hex }) };
/** A release's version in the path is MAJOR.MINOR.PATCH, not the integer a roster's `version` is. */
const RemoveRoute = {
  params: z.object({ version: ReleaseVersion }),
  /** One architecture's archive, or (left out) every one of that version. */
  body: z.object({ arch: ReleaseArch.optional() }).prefault({}),
};

/** The largest release archive taken: several times the gateway's size, far below a disk's. */
const MAX_ARCHIVE_BYTES = 1024 * 1024 * 1024;

/** The device a request comes from, by the broker credentials it got at enrollment (HTTP Basic). */
function deviceOf(
  header: string | undefined,
  authenticate: (username: string, password: string) => BrokerPrincipal | undefined,
): Extract<BrokerPrincipal, { kind: 'device' }> | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return undefined;
  const principal = authenticate(decoded.slice(0, colon), decoded.slice(colon + 1));
  return principal?.kind === 'device' ? principal : undefined;
}

/** `bytes=N-` or `bytes=N-M` of a file of `size` bytes; undefined when absent, null when not satisfiable. */
function rangeOf(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined | null {
  if (!header) return undefined;
  const match = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (!match) return null;
  const start = Number(match[1]);
  const end = match[2] ? Math.min(Number(match[2]), size - 1) : size - 1;
  return start < size && start <= end ? { start, end } : null;
}

/**
 * Release files for devices: by SHA-256, with Range so that a cut download resumes, for enrolled
 * devices only (their broker credentials), each throttled to its own rate and its school's, so that a
 * rollout never starves the events of a school's link.
 */
export function releaseFileRoutes(
  releases: Releases,
  config: ReleasesConfig,
  authenticate: (username: string, password: string) => BrokerPrincipal | undefined,
) {
  const deviceRates = new Map<string, ByteRate>();
  const schoolRates = new Map<string, ByteRate>();
  const open = new Map<string, number>();
  /** Downloads under way on the whole bridge. */
  let serving = 0;
  const rateOf = (rates: Map<string, ByteRate>, key: string, perSecond: number) => {
    let rate = rates.get(key);
    if (!rate) {
      rate = new ByteRate(perSecond);
      rates.set(key, rate);
    }
    return rate;
  };
  return (app: FastifyInstance) => {
    app.get<RouteTypes<typeof FileRoute>>(
      '/v1/releases/files/:sha256',
      routeSchema(FileRoute),
      async (request, reply) => {
        const device = deviceOf(request.headers.authorization, authenticate);
        if (!device)
          return reply
            .code(401)
            .header('www-authenticate', 'Basic realm="educard releases"')
            .send({ error: 'unauthorized', message: "a device's broker credentials are needed" });
        const { sha256 } = request.params;
        const path = releases.filePath(sha256);
        const size = path ? (await stat(path).catch(() => undefined))?.size : undefined;
        if (!path || size === undefined)
          return reply.code(404).send({ error: 'not-found', message: 'no release file by that SHA-256' });
        const range = rangeOf(request.headers.range, size);
        if (range === null)
          return reply
            .code(416)
            .header('content-range', `bytes */${size}`)
            .send({ error: 'range', message: 'bad range' });
        // Turned away with 1 to 5 s to wait, spread so that the devices do not all come back at once.
        if (serving >= config.maxDownloads)
          return reply
            .code(429)
            .header('retry-after', String(1 + Math.floor(Math.random() * 5)))
            .send({ error: 'busy', message: `the bridge serves ${serving} downloads: come back shortly` });
        const downloads = open.get(device.device) ?? 0;
        if (downloads >= config.maxDownloadsPerDevice)
          return reply
            .code(429)
            .header('retry-after', '5')
            .send({ error: 'busy', message: `${downloads} downloads open for ${device.device}` });
        open.set(device.device, downloads + 1);
        serving += 1;
        let finished = false;
        const done = () => {
          if (finished) return;
          finished = true;
          serving -= 1;
          const left = (open.get(device.device) ?? 1) - 1;
          if (left > 0) open.set(device.device, left);
          else open.delete(device.device);
        };
        const start = range?.start ?? 0;
        const end = range?.end ?? size - 1;
        const body = createReadStream(path, { start, end, highWaterMark: 64 * 1024 }).pipe(
          throttled([
            rateOf(deviceRates, device.device, config.deviceBytesPerSecond),
            rateOf(schoolRates, device.school, config.schoolBytesPerSecond),
          ]),
        );
        body.once('close', done);
        reply.raw.once('close', () => {
          body.destroy();
          done();
        });
        reply
          .code(range ? 206 : 200)
          .header('content-type', 'application/octet-stream')
          .header('accept-ranges', 'bytes')
          .header('etag', `"${sha256}"`)
          .header('content-length', String(end - start + 1));
        if (range) reply.header('content-range', `bytes ${start}-${end}/${size}`);
        return reply.send(body);
      },
    );
  };
}

/** The admin's release routes: add an archive, list, remove (docs/api.md, "Releases"). */
export function releaseRoutes(
  releases: Releases,
  audit: AuditSink,
  inUse: (version: string) => string | undefined,
) {
  return (app: ProtectedApp, guard: Guard) => {
    app.addContentTypeParser('application/x-tar', (_request, payload, done) => done(null, payload));

    app.post('/v1/releases', async (request, reply) => {
      if (!guard(request, reply, 'updates.manage')) return;
      let seen = 0;
      const bounded = (request.body as NodeJS.ReadableStream).pipe(
        new Transform({
          transform(chunk: Buffer, _encoding, next) {
            seen += chunk.length;
            next(seen > MAX_ARCHIVE_BYTES ? new Error(`over ${MAX_ARCHIVE_BYTES} bytes`) : null, chunk);
          },
        }),
      );
      try {
        const release = await releases.add(bounded, request.principal?.username ?? 'anonymous');
        audit.record({
          ...auditActor(request),
          action: 'releases.add',
          target: `release:${release.version}/${release.arch}`,
          outcome: 'ok',
          detail: { files: release.files, bytes: release.bytes },
        });
        request.log.info({ version: release.version, arch: release.arch }, 'release added');
        return release;
      } catch (error) {
        if (!(error instanceof ReleaseNotTaken)) throw error;
        audit.record({
          ...auditActor(request),
          action: 'releases.add',
          outcome: 'failed',
          detail: { reason: error.message },
        });
        request.log.warn({ reason: error.message }, 'release refused');
        return reply.code(error.status).send({ error: 'release-refused', message: error.message });
      }
    });

    app.get('/v1/releases', async (request, reply) => {
      if (!guard(request, reply, 'updates.read')) return;
      return { releases: releases.list() };
    });

    app.post<RouteTypes<typeof RemoveRoute>>(
      '/v1/releases/:version/remove',
      routeSchema(RemoveRoute),
      async (request, reply) => {
        if (!guard(request, reply, 'updates.manage')) return;
        const { version } = request.params;
        const { arch } = request.body;
        const using = inUse(version);
        if (using)
          return reply
            .code(409)
            .send({ error: 'in-use', message: `rollout ${using} distributes ${version}: abort it first` });
        const gone = await releases.remove(version, arch);
        if (!gone.length)
          return reply
            .code(404)
            .send({ error: 'not-found', message: `no release ${version}${arch ? ` for ${arch}` : ''}` });
        audit.record({
          ...auditActor(request),
          action: 'releases.remove',
          target: `release:${version}`,
          outcome: 'ok',
          detail: { arches: gone.map((r) => r.arch) },
        });
        return { removed: gone };
      },
    );
  };
}
