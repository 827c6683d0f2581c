import { join } from 'node:path';
import type { Logger } from '../log/index.js';
import { Sip2Backend, Sip2Client, type Sip2ConfigInput } from '../sip2/index.js';
import type { LibraryBackend } from '../stations/index.js';

export interface LibraryBackendDeps {
  /** The station's data directory (the one its ledger is in): the replay cursor is kept there. */
  dataDir: string;
  /** The station's id: names the replay cursor's file. */
  station: string;
  logger: Logger;
  /** The clock for transaction dates sent to the library system; the system's time by default. */
  now?: () => number;
}

/**
 * The backend of a library station, made here so that `stations/` never imports `sip2/` (which
 * implements the stations' `LibraryBackend`): the school's library system over SIP2 when its `sip2` section is
 * configured, else none (the station keeps its own ledger).
 */
export function libraryBackendFor(
  config: Sip2ConfigInput | undefined,
  deps: LibraryBackendDeps,
): LibraryBackend | undefined {
  if (!config) return undefined;
  const client = new Sip2Client({ config, logger: deps.logger, ...(deps.now ? { now: deps.now } : {}) });
  return new Sip2Backend({
    client,
    stateFile: join(deps.dataDir, `${deps.station}.sip2-replay.json`),
    logger: deps.logger,
  });
}
