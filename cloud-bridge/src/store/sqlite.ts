import { randomBytes } from 'node:crypto';
import {
  type CardEntry,
  type EventData,
  type EventRecord,
  type EventType,
  enrollmentTokenHash,
  GENESIS_HASH,
} from '@educard/terminal-sdk';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { eventDataProblem } from '../contract-check/index.js';
import { LIBRARY_EVENT_TYPES, type LibraryEventRow, type LoanRecord, replayItem } from '../library/ledger.js';
import { startCheckpointer } from './checkpointer.js';
import { LIBRARY_STEP, MIGRATIONS } from './migrations.js';
import { statementCache, whereOf } from './query.js';
import type {
  BridgeStore,
  CatalogueVersion,
  ChainPoint,
  Device,
  EnrollingDevice,
  EnrollOutcome,
  EventFilter,
  LoanConflict,
  Presence,
  RosterCommit,
  RosterVersion,
  StoredEvent,
  TokenGrant,
  UninterpretedRecord,
} from './types.js';

const LIBRARY_TYPES = new Set<string>(LIBRARY_EVENT_TYPES);

/** SQLite's default threshold, used when the checkpoint worker is not there. */
const AUTOCHECKPOINT_PAGES = 1000;

/**
 * A record's time in toISOString's shape is stored as it is: the contract's date-time pattern has
 * already refused impossible dates, and most records come so from gateways.
 */
const TO_ISO_STRING = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const recordTime = (at: string) => (TO_ISO_STRING.test(at) ? at : utc(at));

/** An ISO 8601 time as UTC in toISOString's shape, so that times compare correctly as text. */
function utc(time: string): string {
  const ms = Date.parse(time);
  if (Number.isNaN(ms)) throw new RangeError(`not an ISO 8601 time: ${JSON.stringify(time)}`);
  return new Date(ms).toISOString();
}

/**
 * One record as `commitRecords` stored it, handed to the projections in the same transaction. Its
 * data matches its type's schema when the type is a known one.
 */
export interface CommittedEvent {
  eventId: number;
  device: string;
  school: string;
  /** The record's time in UTC, as stored. */
  at: string;
  record: EventRecord;
}

/**
 * A committed record's data, typed by its type's schema, when the record is of that type. Projections
 * (but for those with `everyRecord`) are handed only records whose data passed that schema.
 */
export function committedData<T extends EventType>(event: CommittedEvent, type: T): EventData<T> | undefined {
  return event.record.type === type ? (event.record.data as EventData<T>) : undefined;
}

/**
 * A table kept in step with the events, written in the transaction that stores them (an outbox, a
 * projection): it sees each record exactly once, and a crash leaves neither without the other. It is
 * handed the records it can interpret, or with `everyRecord` (an outbox that forwards them) all.
 */
export type CommitProjection = (events: CommittedEvent[]) => void;

/**
 * The SQLite store. `pragma` reads a setting of its connection (for checks and diagnostics);
 * `database` is the connection itself, for the bridge's other concerns (central sync, attendance,
 * accounts), each of which keeps its own tables in the same file through `migrateModule`.
 */
export interface SqliteBridgeStore extends BridgeStore {
  pragma(name: string): unknown;
  readonly database: Database.Database;
  addCommitProjection(projection: CommitProjection, options?: { everyRecord?: boolean }): void;
}

/**
 * Runs a concern's own schema steps not yet run (counted per module in `module_schema`), each in the
 * transaction that records it. Never edit a step: add one.
 */
export function migrateModule(db: Database.Database, module: string, steps: string[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS module_schema (module TEXT PRIMARY KEY, version INTEGER NOT NULL)');
  db.transaction(() => {
    const held =
      (
        db.prepare('SELECT version FROM module_schema WHERE module = ?').get(module) as
          | { version: number }
          | undefined
      )?.version ?? 0;
    if (held > steps.length)
      throw new Error(
        `the ${module} tables are at schema ${held}, newer than this bridge knows: upgrade the bridge`,
      );
    if (held === steps.length) return;
    for (let step = held; step < steps.length; step++) db.exec(steps[step] as string);
    db.prepare(
      'INSERT INTO module_schema (module, version) VALUES (?, ?) ON CONFLICT (module) DO UPDATE SET version = excluded.version',
    ).run(module, steps.length);
  }).immediate();
}

interface DeviceRow {
  id: string;
  school: string;
  public_key: string;
  secret_hash: string;
  epoch: number;
  created_at: string;
  revoked_at: string | null;
  last_seen_at: string | null;
  presence: string | null;
}

function toDevice(row: DeviceRow): Device {
  return {
    id: row.id,
    school: row.school,
    publicKey: row.public_key,
    secretHash: row.secret_hash,
    epoch: row.epoch,
    createdAt: row.created_at,
    ...(row.revoked_at ? { revokedAt: row.revoked_at } : {}),
    ...(row.last_seen_at ? { lastSeenAt: row.last_seen_at } : {}),
    ...(row.presence ? { presence: JSON.parse(row.presence) as Presence } : {}),
  };
}

interface VersionRow {
  school: string;
  version: number;
  snapshot_manifest: string;
  snapshot_body: Buffer;
  delta_manifest: string | null;
  delta_body: Buffer | null;
  created_at: string;
}

function toVersion(row: VersionRow): RosterVersion {
  return {
    school: row.school,
    version: row.version,
    snapshotManifest: row.snapshot_manifest,
    snapshotBody: new Uint8Array(row.snapshot_body),
    ...(row.delta_manifest ? { deltaManifest: row.delta_manifest } : {}),
    ...(row.delta_body ? { deltaBody: new Uint8Array(row.delta_body) } : {}),
    createdAt: row.created_at,
  };
}

/** Runs the steps not yet run; returns the schema version the database had. */
interface CatalogueRow {
  school: string;
  version: number;
  manifest: string;
  body: Buffer;
  created_at: string;
}

function toCatalogue(row: CatalogueRow): CatalogueVersion {
  return {
    school: row.school,
    version: row.version,
    manifest: row.manifest,
    body: new Uint8Array(row.body),
    createdAt: row.created_at,
  };
}

function migrate(db: Database.Database): number {
  // IMMEDIATE takes the write lock before reading the version, so two processes opening one file
  // cannot both run a step.
  return db
    .transaction(() => {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > MIGRATIONS.length) {
        throw new Error(
          `database schema ${version} is newer than this bridge knows (${MIGRATIONS.length}): upgrade the bridge`,
        );
      }
      if (version === MIGRATIONS.length) return version;
      for (let step = version; step < MIGRATIONS.length; step++) db.exec(MIGRATIONS[step] as string);
      db.pragma(`user_version = ${MIGRATIONS.length}`);
      return version;
    })
    .immediate();
}

/**
 * The embedded store: SQLite through better-sqlite3, WAL with synchronous=FULL, so a commit the bridge
 * acknowledges has reached the disk.
 */
export function openSqliteStore(path: string, options: { logger?: Logger } = {}): SqliteBridgeStore {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  let migratedFrom: number;
  try {
    migratedFrom = migrate(db);
  } catch (error) {
    db.close();
    throw error;
  }
  db.pragma('wal_autocheckpoint = 0');
  const checkpointer = startCheckpointer(path, (reason) => {
    options.logger?.error({ reason }, 'WAL checkpoints fall back to the committing thread');
    if (db.open) db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
  });

  const statements = {
    cursor: db.prepare<[string], { seq: number; hash: string }>(
      'SELECT seq, hash FROM device_cursors WHERE device = ?',
    ),
    setCursor: db.prepare(
      'INSERT INTO device_cursors (device, seq, hash) VALUES (?, ?, ?) ON CONFLICT (device) DO UPDATE SET seq = excluded.seq, hash = excluded.hash',
    ),
    insertEvent: db.prepare(
      'INSERT OR IGNORE INTO events (device, epoch, school, seq, at, type, person_id, record, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    epoch: db.prepare<[string], { epoch: number }>('SELECT epoch FROM devices WHERE id = ?'),
    putDevice: db.prepare(
      `INSERT INTO devices (id, school, public_key, secret_hash, epoch, created_at) VALUES (@id, @school, @publicKey, @secretHash, @epoch, @createdAt)
       ON CONFLICT (id) DO UPDATE SET school = excluded.school, public_key = excluded.public_key,
         secret_hash = excluded.secret_hash, epoch = excluded.epoch, created_at = excluded.created_at, revoked_at = NULL`,
    ),
    forgetPresence: db.prepare('UPDATE devices SET presence = NULL, last_seen_at = NULL WHERE id = ?'),
    resetCursor: db.prepare('DELETE FROM device_cursors WHERE device = ?'),
    getDevice: db.prepare<[string], DeviceRow>('SELECT * FROM devices WHERE id = ?'),
    listDevices: db.prepare<[], DeviceRow>('SELECT * FROM devices ORDER BY id'),
    listSchoolDevices: db.prepare<[string], DeviceRow>('SELECT * FROM devices WHERE school = ? ORDER BY id'),
    revokeDevice: db.prepare('UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    setPresence: db.prepare('UPDATE devices SET presence = ?, last_seen_at = ? WHERE id = ?'),
    insertToken: db.prepare(
      'INSERT INTO enrollment_tokens (hash, school, expires_at, device) VALUES (?, ?, ?, ?)',
    ),
    tokenGrant: db.prepare<[string, string], { school: string; device: string | null }>(
      'SELECT school, device FROM enrollment_tokens WHERE hash = ? AND used_at IS NULL AND expires_at > ?',
    ),
    rosterCards: db.prepare<[string], { entry: string }>(
      'SELECT entry FROM roster_cards WHERE school = ? ORDER BY card_id',
    ),
    findCard: db.prepare<[string], { entry: string }>(
      'SELECT entry FROM roster_cards WHERE card_id = ? ORDER BY school',
    ),
    personCards: db.prepare<[string], { entry: string }>(
      "SELECT entry FROM roster_cards WHERE json_extract(entry, '$.personId') = ? ORDER BY school, card_id",
    ),
    putCard: db.prepare(
      'INSERT INTO roster_cards (card_id, school, entry) VALUES (?, ?, ?) ON CONFLICT (card_id, school) DO UPDATE SET entry = excluded.entry',
    ),
    rosterSettings: db.prepare<[string], { calendar: string; schedules: string }>(
      'SELECT calendar, schedules FROM roster_settings WHERE school = ?',
    ),
    putSettings: db.prepare(
      'INSERT INTO roster_settings (school, calendar, schedules) VALUES (?, ?, ?) ON CONFLICT (school) DO UPDATE SET calendar = excluded.calendar, schedules = excluded.schedules',
    ),
    putVersion: db.prepare(
      'INSERT INTO roster_versions (school, version, snapshot_manifest, snapshot_body, delta_manifest, delta_body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    latestVersion: db.prepare<[string], VersionRow>(
      'SELECT * FROM roster_versions WHERE school = ? ORDER BY version DESC LIMIT 1',
    ),
    version: db.prepare<[string, number], VersionRow>(
      'SELECT * FROM roster_versions WHERE school = ? AND version = ?',
    ),
    rosterSchools: db.prepare<[], { school: string }>(
      'SELECT DISTINCT school FROM roster_versions ORDER BY school',
    ),
    useToken: db.prepare('UPDATE enrollment_tokens SET used_at = ? WHERE hash = ?'),
    putCatalogue: db.prepare(
      'INSERT INTO catalogue_versions (school, version, manifest, body, created_at) VALUES (?, ?, ?, ?, ?)',
    ),
    latestCatalogue: db.prepare<[string], CatalogueRow>(
      'SELECT * FROM catalogue_versions WHERE school = ? ORDER BY version DESC LIMIT 1',
    ),
    catalogue: db.prepare<[string, number], CatalogueRow>(
      'SELECT * FROM catalogue_versions WHERE school = ? AND version = ?',
    ),
    catalogueSchools: db.prepare<[], { school: string }>(
      'SELECT DISTINCT school FROM catalogue_versions ORDER BY school',
    ),
    insertLibraryEvent: db.prepare(
      'INSERT OR IGNORE INTO library_events (event_id, school, item_id, at, type, device, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    itemEvents: db.prepare<
      [string, string],
      { event_id: number; device: string; at: string; type: string; data: string }
    >('SELECT event_id, device, at, type, data FROM library_events WHERE school = ? AND item_id = ?'),
    libraryItems: db.prepare<[], { school: string; item_id: string }>(
      'SELECT DISTINCT school, item_id FROM library_events',
    ),
    deleteItemLoans: db.prepare('DELETE FROM loans WHERE school = ? AND item_id = ?'),
    putLoan: db.prepare(
      'INSERT INTO loans (school, loan_id, item_id, person_id, device, returned_at, checked_out_at, loan) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    itemConflicts: db.prepare<[string, string], { loan_id: string; other_loan_id: string }>(
      'SELECT loan_id, other_loan_id FROM loan_conflicts WHERE school = ? AND item_id = ?',
    ),
    putConflict: db.prepare(
      `INSERT INTO loan_conflicts (school, item_id, loan_id, other_loan_id, at, detected_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (school, loan_id, other_loan_id) DO UPDATE SET at = excluded.at`,
    ),
    deleteConflict: db.prepare(
      'DELETE FROM loan_conflicts WHERE school = ? AND loan_id = ? AND other_loan_id = ?',
    ),
    conflicts: db.prepare<
      [string],
      { item_id: string; loan_id: string; other_loan_id: string; at: string; detected_at: string }
    >('SELECT * FROM loan_conflicts WHERE school = ? ORDER BY detected_at, item_id, at'),
    loan: db.prepare<[string, string], { loan: string }>(
      'SELECT loan FROM loans WHERE school = ? AND loan_id = ?',
    ),
  };

  /**
   * Rebuilds one item's loans and conflicts from its history. A conflict keeps the time it was first
   * seen; one that later events show was none (a return that came late, from a desk that was offline)
   * is dropped.
   */
  const replay = (school: string, itemId: string, now: string) => {
    const events: LibraryEventRow[] = statements.itemEvents.all(school, itemId).map((row) => ({
      eventId: row.event_id,
      device: row.device,
      at: row.at,
      type: row.type,
      data: JSON.parse(row.data) as Record<string, unknown>,
    }));
    const { loans, conflicts } = replayItem(school, itemId, events);
    statements.deleteItemLoans.run(school, itemId);
    for (const loan of loans) {
      statements.putLoan.run(
        school,
        loan.loanId,
        itemId,
        loan.personId,
        loan.device,
        loan.returnedAt ?? null,
        loan.checkedOutAt,
        JSON.stringify(loan),
      );
    }
    const found = new Set(conflicts.map((c) => `${c.loanId}\0${c.otherLoanId}`));
    for (const held of statements.itemConflicts.all(school, itemId)) {
      if (!found.has(`${held.loan_id}\0${held.other_loan_id}`))
        statements.deleteConflict.run(school, held.loan_id, held.other_loan_id);
    }
    for (const c of conflicts) statements.putConflict.run(school, itemId, c.loanId, c.otherLoanId, c.at, now);
  };

  /** Takes a committed record into the ledger's history; returns the item it touched, if any. */
  const keepLibraryEvent = (eventId: number, school: string, record: EventRecord, at: string) => {
    if (!LIBRARY_TYPES.has(record.type)) return undefined;
    const itemId = record.data.itemId;
    if (typeof itemId !== 'string') return undefined;
    statements.insertLibraryEvent.run(
      eventId,
      school,
      itemId,
      at,
      record.type,
      record.device,
      JSON.stringify(record.data),
    );
    return itemId;
  };

  const rebuildLedger = db.transaction(() => {
    const now = new Date().toISOString();
    for (const { school, item_id } of statements.libraryItems.all()) replay(school, item_id, now);
  });
  if (migratedFrom < LIBRARY_STEP) rebuildLedger();

  // queryEvents and countEvents build their WHERE from the filter: each shape is prepared once.
  const prepared = statementCache(db);

  const grantOf = (token: string, now: string): TokenGrant | undefined => {
    const row = statements.tokenGrant.get(enrollmentTokenHash(token), utc(now));
    return row && { school: row.school, ...(row.device !== null ? { device: row.device } : {}) };
  };

  const cursor = (device: string): ChainPoint =>
    statements.cursor.get(device) ?? { seq: 0, hash: GENESIS_HASH };

  const projections: { project: CommitProjection; everyRecord: boolean }[] = [];
  const commit = db.transaction((device: string, school: string, records: EventRecord[]) => {
    const start = cursor(device);
    // The cursor is the current epoch's: what continues it belongs to that epoch.
    const epoch = statements.epoch.get(device)?.epoch ?? 1;
    const fresh = records.filter((r) => r.seq > start.seq);
    const receivedAt = new Date().toISOString();
    let inserted = 0;
    let last = start;
    const items = new Set<string>();
    const stored: CommittedEvent[] = [];
    const interpreted: CommittedEvent[] = [];
    const uninterpreted: UninterpretedRecord[] = [];
    for (const record of fresh) {
      // Only what continues the stored chain: the next seq, linked to the hash before it.
      if (record.seq !== last.seq + 1 || record.prev !== last.hash || record.device !== device) break;
      const personId = typeof record.data.personId === 'string' ? record.data.personId : null;
      const at = recordTime(record.at);
      const result = statements.insertEvent.run(
        device,
        epoch,
        school,
        record.seq,
        at,
        record.type,
        personId,
        JSON.stringify(record),
        receivedAt,
      );
      inserted += result.changes;
      if (result.changes > 0) {
        const eventId = Number(result.lastInsertRowid);
        // A known type with data of another shape (a faulty or hostile device) is kept, not read.
        const problem = eventDataProblem(record);
        const event = { eventId, device, school, at, record };
        stored.push(event);
        if (problem) uninterpreted.push({ seq: record.seq, type: record.type, problem });
        else {
          const item = keepLibraryEvent(eventId, school, record, at);
          if (item !== undefined) items.add(item);
          interpreted.push(event);
        }
      }
      last = { seq: record.seq, hash: record.hash };
    }
    // The loan ledger moves in the same transaction as the events it follows from.
    for (const item of items) replay(school, item, receivedAt);
    for (const { project, everyRecord } of projections) {
      const events = everyRecord ? stored : interpreted;
      if (events.length) project(events);
    }
    if (last !== start) statements.setCursor.run(device, last.seq, last.hash);
    return { ...last, inserted, ...(uninterpreted.length ? { uninterpreted } : {}) };
  });

  return {
    database: db,
    addCommitProjection: (project, options = {}) => {
      projections.push({ project, everyRecord: options.everyRecord ?? false });
    },
    cursor,
    commitRecords: (device, school, records) => commit(device, school, records),

    queryEvents(filter: EventFilter): StoredEvent[] {
      if (!(filter.limit >= 1)) return [];
      const where = whereOf([
        ['school = ?', filter.school],
        ['device = ?', filter.device],
        ['person_id = ?', filter.personId],
        ['type = ?', filter.type],
        ['at >= ?', filter.fromAt === undefined ? undefined : utc(filter.fromAt)],
        ['at < ?', filter.toAt === undefined ? undefined : utc(filter.toAt)],
        ['id > ?', filter.afterId],
      ]);
      const sql = `SELECT id, school, epoch, received_at, record FROM events ${where.sql} ORDER BY id LIMIT ?`;
      const rows = prepared(sql).all(...where.params, Math.floor(filter.limit)) as {
        id: number;
        school: string;
        epoch: number;
        received_at: string;
        record: string;
      }[];
      return rows.map((row) => ({
        id: row.id,
        school: row.school,
        epoch: row.epoch,
        receivedAt: row.received_at,
        record: JSON.parse(row.record),
      }));
    },

    countEvents(filter = {}): number {
      const where = whereOf([
        ['device = ?', filter.device],
        ['school = ?', filter.school],
      ]);
      const sql = `SELECT count(*) AS n FROM events ${where.sql}`;
      return (prepared(sql).get(...where.params) as { n: number }).n;
    },

    getDevice(id) {
      const row = statements.getDevice.get(id);
      return row ? toDevice(row) : undefined;
    },
    listDevices(school) {
      return (school ? statements.listSchoolDevices.all(school) : statements.listDevices.all()).map(toDevice);
    },
    revokeDevice(id, at) {
      return statements.revokeDevice.run(at, id).changes > 0;
    },
    recordPresence: db.transaction((id: string, presence: Presence): boolean => {
      const row = statements.getDevice.get(id);
      if (!row) return false;
      const held = row.presence ? (JSON.parse(row.presence) as Presence) : undefined;
      if (held && presence.bdSeq < held.bdSeq) return false;
      statements.setPresence.run(JSON.stringify(presence), presence.at, id);
      return true;
    }),

    createTokens: db.transaction(
      (school: string, count: number, expiresAt: string, device?: string): string[] => {
        const tokens = Array.from({ length: count }, () => randomBytes(32).toString('base64url'));
        for (const token of tokens)
          statements.insertToken.run(enrollmentTokenHash(token), school, utc(expiresAt), device ?? null);
        return tokens;
      },
    ),
    tokenGrant(token, now) {
      return grantOf(token, now);
    },
    enrollDevice: db.transaction((token: string, enrolling: EnrollingDevice, now: string): EnrollOutcome => {
      const grant = grantOf(token, now);
      if (!grant) return { ok: false, refused: 'token' };
      if (grant.device !== undefined && grant.device !== enrolling.id) return { ok: false, refused: 'bound' };
      const held = statements.getDevice.get(enrolling.id);
      if (held && !held.revoked_at) return { ok: false, refused: 'enrolled' };
      const sameChain = held && held.public_key === enrolling.publicKey && held.school === grant.school;
      const epoch = held ? (sameChain ? held.epoch : held.epoch + 1) : 1;
      statements.useToken.run(utc(now), enrollmentTokenHash(token));
      statements.putDevice.run({ ...enrolling, school: grant.school, epoch, createdAt: utc(now) });
      const newEpoch = held !== undefined && !sameChain;
      if (newEpoch) {
        statements.resetCursor.run(enrolling.id);
        // The old key's births counted bdSeq on a device that started again from 1.
        statements.forgetPresence.run(enrolling.id);
      }
      const device = toDevice(statements.getDevice.get(enrolling.id) as DeviceRow);
      return { ok: true, device, newEpoch, ...(held ? { previousSchool: held.school } : {}) };
    }),

    rosterCards(school) {
      return statements.rosterCards.all(school).map((row) => JSON.parse(row.entry) as CardEntry);
    },
    findCard(cardId) {
      // Where the card is now, not a roster it was transferred away from (one row but after a transfer).
      const cards = statements.findCard.all(cardId).map((row) => JSON.parse(row.entry) as CardEntry);
      return cards.find((card) => card.statusReason !== 'transferred') ?? cards[0];
    },
    personCards(personId) {
      return statements.personCards.all(personId).map((row) => JSON.parse(row.entry) as CardEntry);
    },
    rosterSettings(school) {
      const row = statements.rosterSettings.get(school);
      return row ? { calendar: JSON.parse(row.calendar), schedules: JSON.parse(row.schedules) } : undefined;
    },
    commitRosters: db.transaction((commits: RosterCommit[], alongside?: () => void) => {
      for (const { school, cards, settings, version } of commits) {
        for (const card of cards) statements.putCard.run(card.cardId, school, JSON.stringify(card));
        if (settings)
          statements.putSettings.run(
            school,
            JSON.stringify(settings.calendar),
            JSON.stringify(settings.schedules),
          );
        statements.putVersion.run(
          school,
          version.version,
          version.snapshotManifest,
          Buffer.from(version.snapshotBody),
          version.deltaManifest ?? null,
          version.deltaBody ? Buffer.from(version.deltaBody) : null,
          version.createdAt,
        );
      }
      alongside?.();
    }),
    latestRosterVersion(school) {
      const row = statements.latestVersion.get(school);
      return row ? toVersion(row) : undefined;
    },
    rosterVersion(school, version) {
      const row = statements.version.get(school, version);
      return row ? toVersion(row) : undefined;
    },
    rosterSchools() {
      return statements.rosterSchools.all().map((row) => row.school);
    },

    commitCatalogue(version: CatalogueVersion) {
      statements.putCatalogue.run(
        version.school,
        version.version,
        version.manifest,
        Buffer.from(version.body),
        version.createdAt,
      );
    },
    latestCatalogue(school) {
      const row = statements.latestCatalogue.get(school);
      return row ? toCatalogue(row) : undefined;
    },
    catalogueVersion(school, version) {
      const row = statements.catalogue.get(school, version);
      return row ? toCatalogue(row) : undefined;
    },
    catalogueSchools() {
      return statements.catalogueSchools.all().map((row) => row.school);
    },

    loans(school, filter) {
      if (!(filter.limit >= 1)) return [];
      const where = ['school = ?'];
      const params: (string | number)[] = [school];
      if (filter.open) where.push('returned_at IS NULL');
      if (filter.personId !== undefined) {
        where.push('person_id = ?');
        params.push(filter.personId);
      }
      if (filter.itemId !== undefined) {
        where.push('item_id = ?');
        params.push(filter.itemId);
      }
      const sql = `SELECT loan FROM loans WHERE ${where.join(' AND ')} ORDER BY checked_out_at, loan_id LIMIT ?`;
      const rows = prepared(sql).all(...params, Math.floor(filter.limit)) as { loan: string }[];
      return rows.map((row) => JSON.parse(row.loan) as LoanRecord);
    },
    loanConflicts(school) {
      return statements.conflicts.all(school).map((row): LoanConflict => {
        const loans = [row.loan_id, row.other_loan_id]
          .map((id) => statements.loan.get(school, id))
          .filter((found): found is { loan: string } => found !== undefined)
          .map((found) => JSON.parse(found.loan) as LoanRecord);
        return {
          school,
          itemId: row.item_id,
          loanId: row.loan_id,
          otherLoanId: row.other_loan_id,
          at: row.at,
          detectedAt: row.detected_at,
          loans,
        };
      });
    },

    pragma(name: string): unknown {
      if (!/^[a-z_]+$/.test(name)) throw new Error(`not a pragma name: ${name}`);
      return db.pragma(name, { simple: true });
    },

    close() {
      checkpointer.stop().catch(() => undefined);
      db.close();
    },
  };
}
