import { join } from 'node:path';
import type { z } from 'zod';
import { CatalogueStore, trustedKeySets } from '../../catalogue/index.js';
import type { LibraryStationSettings } from '../../config/index.js';
import type { Logger } from '../../log/index.js';
import type { StationFactory } from '../types.js';
import type { LibraryBackend } from './backend.js';
import { LibraryStation } from './station.js';

/**
 * Makes a desk's library system of record from its settings (SIP2, made in runtime/ so that stations/
 * never imports sip2/), or none: the desk then keeps its own ledger.
 */
export type LibraryBackendFactory = (
  sip2: z.input<typeof LibraryStationSettings>['sip2'],
  deps: LibraryBackendDeps,
) => LibraryBackend | undefined;

export interface LibraryBackendDeps {
  /** The station's data directory (the one its ledger is in): the replay cursor is kept there. */
  dataDir: string;
  /** The station's id: names the replay cursor's file. */
  station: string;
  logger: Logger;
  /** The clock for transaction dates sent to the library system; the system's time by default. */
  now?: () => number;
}

/** A library desk: its catalogue (from the uplink), its ledger, and the library system when it has one. */
export const createLibraryStation =
  (libraryBackendFor: LibraryBackendFactory): StationFactory<'library'> =>
  async (settings, context) => {
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
