import { fromBase64Url, KeyRole, keyIdOf, rootFingerprint } from '@educard/terminal-sdk';
import { z } from 'zod';
import { type RouteTypes, routeSchema } from '../contract-check/index.js';
import { KeySetRefused } from '../roster/index.js';
import type { ProtectedApp, RouteContext } from './deps.js';

const CommitRoute = { body: z.object({ pendingId: z.string().min(1).max(64), keySet: z.unknown() }) };
const ReleaseKeysRoute = { body: z.object({ releases: KeyRole }) };
/** A rotation may also name the card issuers of the next key set (none: `null`), or keep those in force. */
const PrepareRoute = { body: z.object({ cardIssuers: KeyRole.nullable().optional() }).prefault({}) };

interface RosterKeySetView {
  version: number;
  issuedAt: string;
  root: { keys: { keyId: string }[]; threshold: number };
  roster: { keys: { keyId: string }[] };
  cardIssuers?: { keys: { keyId: string }[] };
  commands?: { keys: { keyId: string }[] };
  releases?: { keys: { keyId: string }[]; threshold: number };
}

/** The key sets and their rotation (docs/api.md, "Keys"): every route needs `keys.manage`. */
export function keyRoutes(admin: ProtectedApp, { deps, guard, audited }: RouteContext): void {
  admin.get('/v1/keys', async (request, reply) => {
    if (!guard(request, reply, 'keys.manage')) return;
    const { keys } = deps.roster;
    const anchor = keys.anchor;
    const keyIds = (role: { keys: { keyId: string }[] }) => role.keys.map((k) => k.keyId);
    return {
      anchor,
      fingerprint: rootFingerprint(anchor),
      keySetVersion: keys.version,
      rosterKeyIds: keys.signers.map((k) => keyIdOf(k.publicKey)),
      commandKeyIds: keys.commandSigners.map((k) => keyIdOf(k.publicKey)),
      rootOnBridge: keys.rootOnBridge,
      ...(keys.pendingRotation ? { pending: keys.pendingRotation } : {}),
      keySets: keys.keySets.map((text) => {
        const signed = (JSON.parse(text) as { signed: RosterKeySetView }).signed;
        return {
          version: signed.version,
          issuedAt: signed.issuedAt,
          rootKeyIds: keyIds(signed.root),
          rootThreshold: signed.root.threshold,
          rosterKeyIds: keyIds(signed.roster),
          cardIssuerKeyIds: signed.cardIssuers ? keyIds(signed.cardIssuers) : [],
          ...(signed.commands ? { commandKeyIds: keyIds(signed.commands) } : {}),
          ...(signed.releases
            ? { releaseKeyIds: keyIds(signed.releases), releaseThreshold: signed.releases.threshold }
            : {}),
        };
      }),
    };
  });

  admin.post<RouteTypes<typeof PrepareRoute>>(
    '/v1/keys/roster/rotate/prepare',
    routeSchema(PrepareRoute),
    async (request, reply) => {
      if (!guard(request, reply, 'keys.manage')) return;
      const { cardIssuers } = request.body;
      const issuerKeys = cardIssuers?.keys ?? [];
      if (issuerKeys.some(({ keyId, publicKey }) => keyIdOf(fromBase64Url(publicKey)) !== keyId))
        return reply
          .code(400)
          .send({ error: 'bad-request', message: 'a card issuer key id does not match its key' });
      const prepared = await deps.roster.prepareRotation(cardIssuers === undefined ? {} : { cardIssuers });
      audited(request, 'keys.rotate.prepare', { detail: { version: prepared.keySet.version } });
      request.log.info(
        { version: prepared.keySet.version, pending: prepared.pendingId },
        'roster key rotation prepared',
      );
      return prepared;
    },
  );

  admin.post<RouteTypes<typeof ReleaseKeysRoute>>(
    '/v1/keys/releases/prepare',
    routeSchema(ReleaseKeysRoute),
    async (request, reply) => {
      if (!guard(request, reply, 'keys.manage')) return;
      const { releases } = request.body;
      const prepared = await deps.roster.keys.prepareReleaseKeys(releases);
      audited(request, 'keys.releases.prepare', {
        detail: { version: prepared.keySet.version, keyIds: releases.keys.map((k) => k.keyId) },
      });
      return prepared;
    },
  );

  admin.post<RouteTypes<typeof CommitRoute>>(
    '/v1/keys/keysets',
    routeSchema(CommitRoute),
    async (request, reply) => {
      if (!guard(request, reply, 'keys.manage')) return;
      const { pendingId, keySet } = request.body;
      try {
        const committed = await deps.roster.commitKeySet(pendingId, keySet);
        // Catalogues are signed by the same keys: issued again under the new one, after the key sets.
        await deps.library?.catalogue.reissueStale();
        await deps.onKeysRotated?.();
        audited(request, 'keys.rotate.commit', { detail: { version: committed.version } });
        return committed;
      } catch (error) {
        if (error instanceof KeySetRefused) {
          request.log.warn({ reason: error.message }, 'key set refused');
          audited(request, 'keys.rotate.commit', { outcome: 'failed', detail: { reason: error.message } });
          return reply.code(error.status).send({ error: 'keyset-refused', message: error.message });
        }
        throw error;
      }
    },
  );
}
