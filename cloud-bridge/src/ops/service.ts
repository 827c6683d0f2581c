import { type DeviceState, type EventRecord, maskCardId } from '@educard/terminal-sdk';
import type { Logger } from 'pino';
import type { Directory } from '../directory/index.js';
import type { CardChange } from '../http/index.js';
import type { LoanLedger } from '../library/index.js';
import {
  type BridgeStore,
  type CommittedEvent,
  committedData,
  type JournalLoss,
  type LossFilter,
  logFailure,
  migrateModule,
} from '../store/index.js';
import type { TransferLog } from '../transfers/index.js';
import { ALARM_KINDS, type AlarmInput, type AlarmSubject, Alarms } from './alarms.js';
import { CardHistory } from './cards.js';
import { ExpiryWatch, type KeySetInfo } from './expiry.js';
import { RosterProgress } from './rosters.js';
import { OPS_STEPS } from './schema.js';
import { EventHub, summarise } from './stream.js';
import type {
  Alarm,
  CardView,
  DeviceHealth,
  EventSummary,
  ExpiryView,
  GatePropagation,
  TransferView,
} from './types.js';

export interface OpsSettings {
  /** A device offline longer than this raises `device.offline`. */
  offlineAfterMinutes: number;
  /** A device behind its school's latest roster for longer than this raises `roster.stale`. */
  rosterStaleAfterMinutes: number;
  /** How often the computed alarms (offline, roster stale) are checked. */
  checkEverySeconds: number;
  /** A school's latest roster this close to its expiry raises `roster.expiring` (see ExpiryWatch). */
  expiryWarningDays: number;
  /** The first day of the district's school year, `MM-DD`. */
  schoolYearStart: string;
  /** Live event streams per account, and in all. */
  streamsPerAccount: number;
  maxStreams: number;
}

export const DEFAULT_OPS_SETTINGS: OpsSettings = {
  offlineAfterMinutes: 10,
  rosterStaleAfterMinutes: 30,
  checkEverySeconds: 60,
  expiryWarningDays: 14,
  schoolYearStart: '09-01',
  streamsPerAccount: 4,
  maxStreams: 200,
};

/** What the central connector reports (its `onAlarm`): a count of 0 means the condition has passed. */
export interface ExternalAlarm {
  kind: string;
  message: string;
  count?: number;
  school?: string;
  device?: string;
}

export interface OpsDeps {
  store: BridgeStore;
  directory: Directory;
  /** The transfers between schools, for the recent transfers and how far each has reached. */
  transfers?: TransferLog;
  /** The library's loans, for the books a transferred pupil still has out at the old school. */
  ledger?: Pick<LoanLedger, 'openLoansOf'>;
  logger: Logger;
  settings?: Partial<OpsSettings>;
  now?: () => Date;
  /** The latest roster key set, whose age the expiry view shows. */
  keySet?: () => KeySetInfo;
}

/**
 * Operations: alarms (from events, computed, and raised by other parts), device health, the live
 * event stream and card propagation. Its projection runs in the ingest transaction; anything it
 * cannot do is logged and never refuses an event.
 */
/** How an instance shares its committed events' ids with the others (see `shareStream`). */
export interface StreamShare {
  send(ids: number[]): void;
  /** Whether another instance has a stream open now: nothing is sent while none has. */
  wanted(): boolean;
}

interface StoredEventRow {
  id: number;
  school: string;
  at: string;
  device: string;
  record: string;
}

export class Operations {
  readonly settings: OpsSettings;
  readonly alarms: Alarms;
  readonly rosters: RosterProgress;
  readonly cards: CardHistory;
  readonly expiry: ExpiryWatch;
  readonly hub: EventHub;
  private readonly logger: Logger;
  private readonly now: () => Date;
  private readonly committed;
  private readonly recent;
  private readonly byIds;
  private readonly follow;
  private pending: CommittedEvent[] = [];
  private timer?: NodeJS.Timeout;
  /** With several bridge instances: tells the others which events this one committed. */
  private share: StreamShare | undefined;

  constructor(private readonly deps: OpsDeps) {
    const db = deps.store.database;
    migrateModule(db, 'ops', OPS_STEPS);
    this.settings = { ...DEFAULT_OPS_SETTINGS, ...deps.settings };
    this.hub = new EventHub({ perAccount: this.settings.streamsPerAccount, total: this.settings.maxStreams });
    this.logger = deps.logger.child({ component: 'ops' });
    this.now = deps.now ?? (() => new Date());
    this.alarms = new Alarms(
      db,
      this.logger,
      this.now,
      (device) => deps.store.getDevice(device)?.presence?.storage,
    );
    this.rosters = new RosterProgress(db);
    this.cards = new CardHistory(db);
    this.expiry = new ExpiryWatch({
      store: deps.store,
      rosters: this.rosters,
      alarms: this.alarms,
      settings: this.settings,
      now: this.now,
      ...(deps.keySet ? { keySet: deps.keySet } : {}),
    });
    this.committed = db.prepare<[number], { id: number }>('SELECT id FROM events WHERE id = ?');
    this.byIds = db.prepare<[number, number], StoredEventRow>(
      'SELECT id, school, at, device, record FROM events WHERE id BETWEEN ? AND ? ORDER BY id',
    );
    // The newest events first, for a page's first paint: the store pages only forwards.
    this.recent = {
      all: db.prepare<[number], StoredEventRow>(
        'SELECT id, school, at, device, record FROM events ORDER BY id DESC LIMIT ?',
      ),
      school: db.prepare<[string, number], StoredEventRow>(
        'SELECT id, school, at, device, record FROM events WHERE school = ? ORDER BY id DESC LIMIT ?',
      ),
    };
    // A savepoint of its own: on PostgreSQL a failed statement aborts the transaction it is in, so a
    // failure caught here must be rolled back to it for the events' own commit to go on.
    this.follow = db.transaction((events: CommittedEvent[]) => {
      for (const event of events) {
        const applied = committedData(event, 'roster.applied');
        if (applied) this.rosters.applied(event.device, applied.version, event.at);
      }
      this.alarms.project(events);
    });
    deps.store.addCommitProjection((events) => this.project(events));
  }

  /** The computed alarms' checks: on one bridge instance at a time (the runtime holds them under a lease). */
  start(): void {
    this.checkDates();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.evaluate(), this.settings.checkEverySeconds * 1000).unref();
  }

  stopChecks(): void {
    clearInterval(this.timer);
  }

  stop(): void {
    this.stopChecks();
    this.hub.close();
  }

  /**
   * With several bridge instances: `send` tells the others the ids of the events this one committed,
   * while `wanted` says another streams them, and they show them on their streams through
   * `streamStored`. Ids, not the events, go between instances: each reads them from the database, so
   * no personal data travels through the broker.
   */
  shareStream(share: StreamShare): void {
    this.share = share;
  }

  /** Streams events another instance committed, read back by id. */
  streamStored(ids: readonly number[]): void {
    if (this.hub.size === 0 || ids.length === 0) return;
    const wanted = new Set(ids);
    let low = Number.POSITIVE_INFINITY;
    let high = 0;
    for (const id of ids) {
      low = Math.min(low, id);
      high = Math.max(high, id);
    }
    // The other instances' ids interleave with these: the range holds a few more than asked for.
    this.hub.publish(this.summaries(this.byIds.all(low, high).filter((row) => wanted.has(row.id))));
  }

  raise(input: AlarmInput): Alarm {
    return this.alarms.raise(input);
  }

  clear(kind: string, subject: AlarmSubject = {}): Alarm | undefined {
    return this.alarms.clear(kind, subject);
  }

  /** The central connector's `onAlarm`: raises, or clears when the count has gone to 0. */
  readonly onAlarm = (alarm: ExternalAlarm): void => {
    const subject = {
      ...(alarm.school !== undefined ? { school: alarm.school } : {}),
      ...(alarm.device !== undefined ? { device: alarm.device } : {}),
    };
    if (alarm.count === 0) this.alarms.clear(alarm.kind, subject, 'system');
    else this.alarms.raise({ ...subject, kind: alarm.kind, message: alarm.message });
  };

  /** Ingest's `onState`: a device's live storage report raises or clears its disk alarm. */
  readonly onDeviceState = (device: string, school: string, state: DeviceState): void => {
    if (!state.storage) return;
    try {
      this.alarms.storage({ device, school }, state.storage);
    } catch (error) {
      this.logger.error({ err: error, device }, 'device storage could not be judged');
    }
  };

  recordCardChange(change: CardChange): void {
    this.cards.record(change);
  }

  /** Checks the computed alarms now (the timer does it every `checkEverySeconds`). */
  evaluate(): void {
    try {
      this.checkDevices();
    } catch (error) {
      logFailure(this.logger, { err: error }, 'device alarms could not be checked');
    }
    if (this.expiry.due) this.checkDates();
  }

  /**
   * Checks the calendar and roster expiry alarms of one school (its roster was just published) or of
   * all (at start, then once a day on the bridge's clock). A failure is logged, never thrown.
   */
  checkDates(school?: string): void {
    try {
      this.expiry.check(school);
    } catch (error) {
      this.logger.error({ err: error, school }, 'dated alarms could not be checked');
    }
  }

  /** Rosters near their expiry, calendars of the school year, the key set's age. */
  expiryView(school?: string): ExpiryView {
    return this.expiry.view(school);
  }

  devices(school?: string): DeviceHealth[] {
    return this.deps.store.listDevices(school).map((device) => {
      const held = this.rosters.held(device);
      const presence = device.presence;
      return {
        id: device.id,
        school: device.school,
        online: device.revokedAt === undefined && presence?.online === true,
        lastSeenAt: device.lastSeenAt ?? null,
        firmware: presence?.firmware ?? null,
        rosterVersion: held ?? null,
        latestRosterVersion: this.rosters.latest(device.school)?.version ?? null,
        rosterExpiresAt: held ? (this.rosters.expiresAt(device.school, held) ?? null) : null,
        keySetVersion: presence?.keySetVersion ?? null,
        journalBacklog: presence?.journalBacklog ?? null,
        storage: presence?.storage ?? null,
        revoked: device.revokedAt !== undefined,
        openAlarms: this.alarms.openOfDevice(device.id),
      };
    });
  }

  losses(filter: LossFilter): JournalLoss[] {
    return this.deps.store.journalLosses(filter);
  }

  card(cardId: string): CardView | undefined {
    const { store } = this.deps;
    const card = store.findCard(cardId);
    if (!card) return undefined;
    const changes = this.cards.of(cardId);
    const latest = changes.at(-1);
    const name = this.nameOf(card.personId, cardId);
    return {
      cardId,
      personId: card.personId,
      ...(name !== undefined ? { name } : {}),
      school: card.school,
      status: card.status,
      changes,
      ...(latest
        ? {
            propagation: {
              version: latest.version,
              changedAt: latest.at,
              gates: this.gatesReached(card.school, latest.version),
            },
          }
        : {}),
    };
  }

  /**
   * The newest transfers (into or out of `school`, or all), each with how far it has reached: gate by
   * gate at the schools the caller may see (`sees`), the version alone at the other.
   */
  transfers(school: string | undefined, limit: number, sees: (school: string) => boolean): TransferView[] {
    return (this.deps.transfers?.recent(limit, school) ?? []).map((transfer) => {
      const name = this.nameOf(transfer.personId, undefined) ?? transfer.before.name;
      const out = sees(transfer.from)
        ? this.deps.ledger?.openLoansOf(transfer.from, transfer.personId)
        : undefined;
      return {
        id: transfer.id,
        personId: transfer.personId,
        ...(name !== undefined ? { name } : {}),
        from: transfer.from,
        to: transfer.to,
        on: transfer.on,
        at: transfer.at,
        source: transfer.source,
        actor: transfer.actor,
        cards: transfer.cards.map(maskCardId),
        schools: transfer.versions.map(({ school: at, version }) => ({
          school: at,
          version,
          ...(sees(at) ? { gates: this.gatesReached(at, version) } : {}),
        })),
        ...(out?.length ? { booksOut: out.length } : {}),
      };
    });
  }

  /** Each gate of a school in service: the version it holds, and whether and when it applied `version`. */
  private gatesReached(school: string, version: number): GatePropagation[] {
    return this.deps.store
      .listDevices(school)
      .filter((device) => device.revokedAt === undefined)
      .map((device) => {
        const held = this.rosters.held(device);
        const appliedAt = this.rosters.appliedAt(device.id, version);
        return {
          device: device.id,
          online: device.presence?.online === true,
          rosterVersion: held ?? null,
          applied: appliedAt !== undefined || (held ?? 0) >= version,
          ...(appliedAt !== undefined ? { appliedAt } : {}),
        };
      });
  }

  /** The newest events, newest first. */
  recentEvents(school: string | undefined, limit: number): EventSummary[] {
    return this.summaries(
      school === undefined ? this.recent.all.all(limit) : this.recent.school.all(school, limit),
    );
  }

  private summaries(rows: readonly StoredEventRow[]): EventSummary[] {
    return rows.map((row) =>
      summarise({ ...row, record: JSON.parse(row.record) as EventRecord }, (p, c) => this.nameOf(p, c)),
    );
  }

  /** A person's name from the directory, else the roster card's display name. */
  private nameOf(personId: string | undefined, cardId: string | undefined): string | undefined {
    const fromDirectory = personId ? this.deps.directory.person(personId)?.name : undefined;
    return fromDirectory ?? (cardId ? this.deps.store.findCard(cardId)?.displayName : undefined);
  }

  /** The commit projection: inside the ingest transaction, so it must not throw into it. */
  private project(events: CommittedEvent[]): void {
    try {
      this.follow(events);
    } catch (error) {
      this.logger.error(
        { err: error, events: events.length },
        'operations could not follow committed events',
      );
    }
    if (this.hub.size === 0 && !this.share?.wanted()) return;
    if (this.pending.length === 0) setImmediate(() => this.flush());
    this.pending.push(...events);
  }

  /** Hands committed events to the stream once their transaction is over. */
  private flush(): void {
    const events = this.pending;
    this.pending = [];
    const last = events.at(-1);
    // A transaction that failed after the projection ran stored nothing: stream nothing of it.
    if (!last || !this.committed.get(last.eventId)) return;
    try {
      if (this.share?.wanted()) this.share.send(events.map((event) => event.eventId));
      if (this.hub.size === 0) return;
      this.hub.publish(
        events.map((event) =>
          summarise({ id: event.eventId, ...event }, (personId, cardId) => this.nameOf(personId, cardId)),
        ),
      );
    } catch (error) {
      this.logger.error({ err: error }, 'events could not be streamed');
    }
  }

  private checkDevices(): void {
    const nowMs = this.now().getTime();
    const offlineMs = this.settings.offlineAfterMinutes * 60_000;
    const staleMs = this.settings.rosterStaleAfterMinutes * 60_000;
    for (const device of this.deps.store.listDevices()) {
      const subject = { device: device.id, school: device.school };
      if (device.revokedAt !== undefined) {
        this.alarms.clear(ALARM_KINDS.deviceOffline, subject, 'system');
        this.alarms.clear(ALARM_KINDS.rosterStale, subject, 'system');
        continue;
      }
      const presence = device.presence;
      if (presence && !presence.online && Date.parse(presence.at) < nowMs - offlineMs)
        this.alarms.hold({
          ...subject,
          kind: ALARM_KINDS.deviceOffline,
          message: `offline since ${presence.at}`,
        });
      else if (presence?.online) this.alarms.clear(ALARM_KINDS.deviceOffline, subject, 'system');

      const latest = this.rosters.latest(device.school);
      const held = this.rosters.held(device);
      if (!latest || held === undefined) continue;
      const behind = held < latest.version && Date.parse(latest.createdAt) < nowMs - staleMs;
      const expiresAt = held > 0 ? this.rosters.expiresAt(device.school, held) : undefined;
      const expired = expiresAt !== undefined && Date.parse(expiresAt) <= nowMs;
      if (behind || expired)
        this.alarms.hold({
          ...subject,
          kind: ALARM_KINDS.rosterStale,
          message: expired
            ? `roster ${held} expired at ${expiresAt}`
            : `roster ${held} behind ${latest.version} (published ${latest.createdAt})`,
        });
      else this.alarms.clear(ALARM_KINDS.rosterStale, subject, 'system');
    }
  }
}
