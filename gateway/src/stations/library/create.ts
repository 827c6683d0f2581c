import { join } from 'node:path';
import { CatalogueStore, trustedKeySets } from '../../catalogue/index.js';
import type { StationFactory } from '../types.js';
import { libraryBackendFor } from './library-system.js';
import { LibraryStation } from './station.js';

/** A library desk: its catalogue (from the uplink), its ledger, and the library system when it has one. */
export const createLibraryStation: StationFactory<'library'> = async (settings, context) => {
  const { config, roster, clock, journal } = context;
  const dataDir = join(config.dataDir, 'library');
  const logger = context.logger.child({ station: settings.id });
  const catalogue = await CatalogueStore.open({
    dir: join(config.dataDir, 'catalogue'),
    school: config.device.school,
    logger: context.logger,
    keySets: () => trustedKeySets(join(config.dataDir, 'roster')),
    now: () => Math.max(clock.now(), clock.floor),
  });
  const station = new LibraryStation({
    config: settings,
    device: config.device.id,
    dataDir,
    roster: () => roster.view,
    catalogue: () => catalogue.view,
    clock,
    journal,
    policy: config.policy,
    logger,
    backend: libraryBackendFor(settings.sip2, {
      dataDir,
      station: settings.id,
      logger,
      now: () => clock.now(),
    }),
  });
  return {
    station,
    feeds: {
      catalogue: {
        accept: (manifest, body) => catalogue.accept(manifest, body),
        version: () => catalogue.view?.version ?? 0,
      },
    },
  };
};
