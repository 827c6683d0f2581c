import { join } from 'node:path';
import type { LibraryBackendFactory } from '../stations/library/create.js';
import { Sip2Backend } from './backend.js';
import { Sip2Client } from './client.js';

/**
 * The backend of a library station: the school's library system over SIP2 when its `sip2` section is
 * configured, else none (the station keeps its own ledger). Made here, beside the client, so that
 * `stations/` never imports `sip2/` (which implements the stations' `LibraryBackend`) and only a
 * library desk's process loads SIP2 at all (runtime/stations.ts imports it for that station type).
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
