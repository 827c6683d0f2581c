import type { GatewayConfig } from '../config/index.js';
import type { Journal } from '../journal/index.js';
import type { Logger } from '../log/index.js';
import type { RosterStore } from '../roster/index.js';
import { bridgeSource, ReleaseRoot, UpdateAgent, type UpdateAgentDeps } from '../updates/index.js';

export interface UpdateWiring {
  config: GatewayConfig;
  logger: Logger;
  journal: Journal;
  roster: RosterStore;
  now(): number;
  /** Bound readers that are there now: what a new release must bind again before it is committed. */
  boundReaders(): string[];
  uplinkConnected(): boolean;
  record: UpdateAgentDeps['record'];
  report: UpdateAgentDeps['report'];
  busy: UpdateAgentDeps['busy'];
  restart(why: string): void;
}

/** The update agent, on a gateway installed in a release root (docs/updates.md); nothing otherwise. */
export async function updateAgentFor(wiring: UpdateWiring): Promise<UpdateAgent | undefined> {
  const { config, logger, journal, roster } = wiring;
  const root = new ReleaseRoot(config.update.root);
  if (!(await root.installed())) {
    logger.info({ root: config.update.root }, 'not installed in a release root: software updates are off');
    return undefined;
  }
  const uplink = config.uplink;
  return new UpdateAgent({
    config: config.update,
    root,
    logger: logger.child({ component: 'update' }),
    now: wiring.now,
    keySet: () => roster.keySet,
    record: wiring.record,
    flush: () => journal.flush(),
    report: wiring.report,
    source: (files) =>
      uplink
        ? bridgeSource(new URL(files.endsWith('/') ? files : `${files}/`, uplink.bridgeHttp), uplink)
        : undefined,
    busy: wiring.busy,
    baseline: () => ({
      readers: wiring.boundReaders(),
      uplink: wiring.uplinkConnected(),
      rosterVersion: roster.view?.version ?? 0,
      lastSeq: journal.stats().lastSeq,
    }),
    live: () => ({
      readers: wiring.boundReaders(),
      uplink: wiring.uplinkConnected(),
      roster: roster.view,
      verifyJournal: async () => {
        const result = await journal.verify();
        return result.ok
          ? { ok: true, lastSeq: journal.stats().lastSeq }
          : { ok: false, problem: result.problem };
      },
      zone: config.station.zone,
      policy: config.policy,
    }),
    restart: (why) => {
      logger.info({ why }, 'restarting into the release in force');
      wiring.restart(why);
    },
  });
}
