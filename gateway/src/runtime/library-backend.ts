import { join } from 'node:path';
import { Sip2Backend, Sip2Client } from '../sip2/index.js';
import type { LibraryBackendFactory } from '../stations/index.js';

/**
 * The backend of a library station, made here so that `stations/` never imports `sip2/` (which
 * implements the stations' `LibraryBackend`): the school's library system over SIP2 when its `sip2` section is
 * configured, else none (the station keeps its own ledger).
 */
export const libraryBackendFor: LibraryBackendFactory = (config, deps) => {
  if (!config) return undefined;
  const client = new Sip2Client({ config, logger: deps.logger, ...(deps.now ? { now: deps.now } : {}) });
  return new Sip2Backend({
    client,
    stateFile: join(deps.dataDir, `${deps.station}.sip2-replay.json`),
    logger: deps.logger,
  });
};
