import { join } from 'node:path';
import { type HotlistBodySource, HotlistStore } from '../../hotlist/index.js';
import { RosterRejected } from '../../roster/index.js';
import type { StationContext, StationFactory } from '../types.js';
import type { VenueData } from './data.js';
import { VenuePlanStore } from './plan.js';
import { VenueStation } from './station.js';

/**
 * A venue's door: cards admitted by their issuers' certificates and the hotlist, then by the
 * venue's rules and the plan of class visits; the hotlist and the plan come from the uplink.
 */
export const createVenueStation: StationFactory<'venue'> = async (settings, context) => {
  const { roster, clock, io, journal, logger } = context;
  const venue = await openVenueData(context);
  const station = new VenueStation({
    config: settings,
    trust: () => ({
      issuers: roster.keySetChain.at(-1)?.cardIssuerKeys ?? new Map(),
      hotlist: venue.hotlist.view,
    }),
    plan: () => venue.plan.view,
    clock,
    actions: io,
    journal,
    logger,
  });
  const { hotlist, plan } = venue;
  return {
    station,
    venue,
    feeds: {
      venue: {
        hotlist: {
          accept: (manifest, body) => acceptHotlist(context, hotlist, manifest, body),
          version: () => hotlist.version,
        },
        plan: {
          accept: (manifest, body) => plan.accept(manifest, body),
          version: () => plan.view?.version ?? 0,
        },
      },
    },
    report: (now) => {
      const list = hotlist.view;
      return {
        hotlist: list
          ? {
              version: list.version,
              entries: list.table.size,
              bytes: list.table.byteLength,
              expiresAt: new Date(list.expiresAt).toISOString(),
              expired: list.expiresAt <= now,
            }
          : null,
        plan: plan.view ? { version: plan.view.version, visits: plan.view.size } : null,
        today: station.status(),
        cardIssuers: [...(roster.keySetChain.at(-1)?.cardIssuerKeys.keys() ?? [])],
      };
    },
  };
};

/** A venue's hotlist and plan, verified by the key sets the roster store trusts. */
async function openVenueData({ config, roster, clock, logger }: StationContext): Promise<VenueData> {
  const now = () => Math.max(clock.now(), clock.floor);
  const hotlist = await HotlistStore.open({
    dir: join(config.dataDir, 'hotlist'),
    logger,
    keySets: () => roster.keySetChain,
    now,
  });
  const plan = await VenuePlanStore.open({
    dir: join(config.dataDir, 'venue-plan'),
    school: config.device.school,
    logger,
    keySets: async () => roster.keySetChain,
    now,
  });
  return { hotlist, plan };
}

/**
 * Verifies and applies a hotlist update, journaling what happened: `hotlist.applied`, or
 * `hotlist.rejected` with the reason (the list in force stays). Rethrows the rejection.
 */
async function acceptHotlist(
  context: StationContext,
  hotlist: HotlistStore,
  manifest: Uint8Array,
  body: HotlistBodySource,
) {
  try {
    const result = await hotlist.accept(manifest, body);
    if (result.status === 'applied') {
      const { version, kind, entries } = result;
      context.record({ type: 'hotlist.applied', data: { version, kind, entries } });
    }
    return result;
  } catch (error) {
    if (error instanceof RosterRejected)
      context.record({ type: 'hotlist.rejected', data: { reason: error.message.slice(0, 512) } });
    throw error;
  }
}
