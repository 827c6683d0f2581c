import { join } from 'node:path';
import type { CardEntry } from '@educard/terminal-sdk';
import type { Logger } from 'pino';
import type { BridgeConfig } from '../config/index.js';
import type { Directory } from '../directory/index.js';
import type { RosterService } from '../roster/index.js';
import type { BadRowSink, BridgeStore } from '../store/index.js';
import type { ChangeApplier } from './apply.js';
import { CentralClient } from './client.js';
import { type FeedDeps, FeedPuller, type FeedStatus } from './feed.js';
import { FileExchange, type FileStatus } from './files.js';
import { growthRecordOf } from './growth.js';
import { type CentralAlarm, Outbox } from './outbox.js';
import { CentralState } from './tables.js';
import type { PushStatus } from './types.js';

export interface CentralDeps {
  config: BridgeConfig;
  store: BridgeStore;
  directory: Directory;
  roster: RosterService;
  /** Applies the change feed's records (and a transfer asked for through the API) to directory and rosters. */
  applier: ChangeApplier;
  logger: Logger;
  /** Told of dead letters and of the central system out of reach for too long (operations records it). */
  onAlarm?: (alarm: CentralAlarm) => void;
  /** The district's hotlist, which the feed's revocations go into. */
  hotlist?: FeedDeps['hotlist'];
  /** A person the feed makes inactive: removed (FeedDeps.onLeft). */
  onLeft?: FeedDeps['onLeft'];
  /** A card on the district's rosters, for a visit's growth record (who the card is). */
  findCard?: (cardId: string) => CardEntry | undefined;
  /** A school's attendance of a day as CSV, for file mode's daily export (wired to attendance). */
  exportAttendance?: (school: string, date: string) => Promise<string> | string;
  /** Told of a stored school id that cannot name a file (file mode skips it). */
  onBadRow: BadRowSink;
}

export interface CentralStatus {
  mode: BridgeConfig['central']['mode'];
  /** A school's view leaves out the feed's problems: they are the district's records, fixed centrally. */
  feed?: FeedStatus | Omit<FeedStatus, 'problems' | 'latestProblems'>;
  push?: PushStatus;
  files?: FileStatus;
  /**
   * Events devices lost before the bridge had them (a damaged journal, a full disk): the central
   * system will never get these. `missing` counts the records, `losses` the facts (GET /v1/ops/losses).
   */
  journalLosses: { losses: number; missing: number; lastAt?: string };
}

/**
 * The connector to the central student-record system, in the mode the config names: `api` pulls the
 * change feed and pushes events through the outbox; `file` imports roster CSVs from an inbox and
 * exports events (and attendance) to an outbox directory; `off` does nothing at all.
 */
export class CentralService {
  readonly mode: BridgeConfig['central']['mode'];
  readonly feed: FeedPuller | undefined;
  readonly outbox: Outbox | undefined;
  readonly files: FileExchange | undefined;
  private readonly store: BridgeStore;

  constructor(deps: CentralDeps) {
    const { config, store, logger: parent } = deps;
    this.store = store;
    const central = config.central;
    const logger = parent.child({ component: 'central' });
    this.mode = central.mode;
    if (central.mode === 'off') return;
    const state = new CentralState(store.database);
    if (central.mode === 'api') {
      const client = new CentralClient({
        url: central.url as string,
        token: central.token as string,
        timeoutMs: central.timeoutMs,
      });
      this.outbox = new Outbox({
        store,
        state,
        client,
        settings: central.push,
        logger,
        growthRecord: (event) =>
          growthRecordOf(event, {
            card: (cardId) => deps.findCard?.(cardId),
            person: (personId) => deps.directory.person(personId),
          }),
        ...(deps.onAlarm ? { onAlarm: deps.onAlarm } : {}),
      });
      // At once, so that no event committed from here on misses the outbox.
      this.outbox.attach();
      this.feed = new FeedPuller({
        store,
        directory: deps.directory,
        applier: deps.applier,
        state,
        client,
        settings: central.feed,
        logger,
        ...(deps.hotlist ? { hotlist: deps.hotlist } : {}),
        ...(deps.onLeft ? { onLeft: deps.onLeft } : {}),
      });
    } else {
      this.files = new FileExchange({
        store,
        directory: deps.directory,
        roster: deps.roster,
        state,
        logger,
        inboxDir: central.files.inboxDir ?? join(config.dataDir, 'central', 'inbox'),
        outboxDir: central.files.outboxDir ?? join(config.dataDir, 'central', 'outbox'),
        importIntervalMs: central.files.importIntervalMs,
        exportIntervalMs: central.files.exportIntervalMs,
        onBadRow: deps.onBadRow,
        ...(deps.exportAttendance ? { exportAttendance: deps.exportAttendance } : {}),
      });
    }
  }

  async start(): Promise<void> {
    this.outbox?.start();
    this.feed?.start();
    await this.files?.start();
  }

  async stop(): Promise<void> {
    await this.feed?.stop();
    await this.outbox?.stop();
    await this.files?.stop();
  }

  /** What the status view shows; with a school, that school's backlog and devices. */
  status(school?: string): CentralStatus {
    const push = this.outbox?.status(Date.now(), school);
    const feed = this.feed?.status();
    const { problems: _count, latestProblems: _latest, ...feedOfSchool } = feed ?? {};
    return {
      mode: this.mode,
      journalLosses: this.store.lossTotals(school),
      ...(feed ? { feed: school ? feedOfSchool : feed } : {}),
      ...(push ? { push } : {}),
      ...(this.files ? { files: this.files.status() } : {}),
    };
  }
}
