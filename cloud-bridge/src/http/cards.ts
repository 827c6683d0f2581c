import { CardEntry, Credential, Identifier, IsoTime, maskCardId } from '@educard/terminal-sdk';
import { z } from 'zod';
import { type RouteTypes, routeSchema } from '../contract-check/index.js';
import { RosterChangeRefused } from '../roster/index.js';
import type { ProtectedApp, RouteContext } from './deps.js';

const CardRoute = { params: z.object({ cardId: Identifier }) };
const ReissueRoute = {
  params: z.object({ cardId: Identifier }),
  body: z.union([
    z.object({ card: CardEntry }),
    z.object({ newCardId: Identifier, credential: Credential, validUntil: IsoTime.optional() }),
  ]),
};

/** The status a lifecycle route sets, by its last path segment. */
const LIFECYCLE: [path: string, status: CardEntry['status']][] = [
  ['lost', 'lost'],
  ['cancel', 'cancelled'],
  ['suspend', 'suspended'],
  ['reactivate', 'active'],
];

/**
 * A card's lifecycle (docs/api.md, "Cards"): lost, cancelled, suspended, active again, or reissued;
 * each change is a new roster version, audited and told to `onCardChange`.
 */
export function cardRoutes(admin: ProtectedApp, { deps, guard, audited }: RouteContext): void {
  const { store } = deps;
  const cardChanged = (
    request: Parameters<RouteContext['guard']>[0],
    card: CardEntry,
    status: CardEntry['status'],
    version: number,
  ) =>
    deps.onCardChange?.({
      cardId: card.cardId,
      school: card.school,
      personId: card.personId,
      status,
      version,
      actor: request.principal?.username ?? 'anonymous',
      at: new Date().toISOString(),
    });

  for (const [path, status] of LIFECYCLE) {
    admin.post<RouteTypes<typeof CardRoute>>(
      `/v1/cards/:cardId/${path}`,
      routeSchema(CardRoute),
      async (request, reply) => {
        const { cardId } = request.params;
        const card = store.findCard(cardId);
        if (!guard(request, reply, 'cards.change', { school: card?.school ?? '' })) return;
        try {
          const version = await deps.roster.setStatus(cardId, status);
          request.log.info({ card: maskCardId(cardId), status, version }, 'card status changed');
          audited(request, 'cards.status', {
            target: `card:${cardId}`,
            school: card?.school ?? '',
            detail: { status, version },
          });
          if (card) cardChanged(request, card, status, version);
          return { cardId, status, version };
        } catch (error) {
          if (error instanceof RosterChangeRefused)
            return reply.code(error.status).send({ error: 'refused', message: error.message });
          throw error;
        }
      },
    );
  }

  admin.post<RouteTypes<typeof ReissueRoute>>(
    '/v1/cards/:cardId/reissue',
    routeSchema(ReissueRoute),
    async (request, reply) => {
      const { cardId } = request.params;
      const old = store.findCard(cardId);
      if (!guard(request, reply, 'cards.change', { school: old?.school ?? '' })) return;
      const body = request.body;
      try {
        const { card, version } = await deps.roster.reissue(cardId, 'card' in body ? body.card : body);
        request.log.info(
          { card: maskCardId(cardId), newCard: maskCardId(card.cardId), version },
          'card reissued',
        );
        audited(request, 'cards.reissue', {
          target: `card:${cardId}`,
          school: card.school,
          detail: { newCardId: card.cardId, version },
        });
        if (old) cardChanged(request, old, 'cancelled', version);
        cardChanged(request, card, card.status, version);
        return { cardId, newCardId: card.cardId, version };
      } catch (error) {
        if (error instanceof RosterChangeRefused)
          return reply.code(error.status).send({ error: 'refused', message: error.message });
        throw error;
      }
    },
  );
}
