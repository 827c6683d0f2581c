import { randomBytes } from 'node:crypto';
import {
  type CardEntry,
  type EventRecord,
  enrollmentTokenHash,
  GENESIS_HASH,
  type JournalDamagedData,
} from '@educard/terminal-sdk';
import { eventDataProblem } from '../contract-check/index.js';
import {
  type CatalogueRow,
  type DeviceRow,
  type LossRow,
  toCatalogue,
  toDevice,
  toLoss,
  toVersion,
  type VersionRow,
} from './core-rows.js';
import { type CommittedEvent, Projections } from './projections.js';
import { statementCache, whereOf } from './query.js';
import { settledEventIds, WRITING_EVENTS_LOCK } from './settled-ids.js';
import type { SqlDatabase } from './sql.js';
import type {
  BridgeStore,
  CatalogueVersion,
  ChainPoint,
  DeclaredLoss,
  EnrollingDevice,
  EnrollOutcome,
  EventFilter,
  JournalLoss,
  Presence,
  RosterCommit,
  StoredEvent,
  TokenGrant,
  UninterpretedRecord,
} from './types.js';

/**
 * A record's time in toISOString's shape is stored as it is: the contract's date-time pattern has
 * already refused impossible dates, and most records come so from gateways.
 */
const TO_ISO_STRING = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const recordTime = (at: string) => (TO_ISO_STRING.test(at) ? at : utc(at));

/**
 * Empties the body of each version of a table superseded by one created before the instant given
 * (`thinSupersededVersions`). length() reads a blob's size without its content, on both backends.
 */
const thinSuperseded = (table: string, body: string, alsoSet = '') =>
  `UPDATE ${table} SET ${body} = ?${alsoSet}
   WHERE length(${body}) > 0 AND EXISTS (
     SELECT 1 FROM ${table} newer
     WHERE newer.school = ${table}.school AND newer.version > ${table}.version AND newer.created_at < ?)`;

/** An ISO 8601 time as UTC in toISOString's shape, so that times compare correctly as text. */
export function utc(time: string): string {
  const ms = Date.parse(time);
  if (Number.isNaN(ms)) throw new RangeError(`not an ISO 8601 time: ${JSON.stringify(time)}`);
  return new Date(ms).toISOString();
}

/** Events per INSERT: 9 parameters each, well under either backend's limit on parameters. */
const INSERT_CHUNK = 500;
const EVENT_COLUMNS = '(device, epoch, school, seq, at, type, person_id, record, received_at)';

/** The rows of one multi-row INSERT that continue a device's chain. */
type EventRow = [string, number, string, number, string, string, string | null, string, string];

/**
 * The bridge's store over either backend's connection, with its core tables already migrated: the
 * same statements on SQLite and PostgreSQL but where their SQL differs (a JSON field). `close` ends
 * the backend's connection.
 */
export function openSqlStore(db: SqlDatabase, close: () => void): BridgeStore {
  const statements = {
    // PostgreSQL: one commit per device at a time across bridge instances (SQLite has one writer),
    // and the lock settledEventIds watches taken before any event id.
    lockDevice:
      db.dialect === 'postgres'
        ? db.prepare<[string]>(
            `SELECT pg_advisory_xact_lock(hashtext(?)) AS device, ${WRITING_EVENTS_LOCK} AS writing`,
          )
        : undefined,
    cursor: db.prepare<[string], { seq: number; hash: string }>(
      'SELECT seq, hash FROM device_cursors WHERE device = ?',
    ),
    setCursor: db.prepare(
      'INSERT INTO device_cursors (device, seq, hash) VALUES (?, ?, ?) ON CONFLICT (device) DO UPDATE SET seq = excluded.seq, hash = excluded.hash',
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
      db.dialect === 'postgres'
        ? "SELECT entry FROM roster_cards WHERE (entry::jsonb ->> 'personId') = ? ORDER BY school, card_id"
        : "SELECT entry FROM roster_cards WHERE json_extract(entry, '$.personId') = ? ORDER BY school, card_id",
    ),
    putCard: db.prepare(
      'INSERT INTO roster_cards (card_id, school, entry) VALUES (?, ?, ?) ON CONFLICT (card_id, school) DO UPDATE SET entry = excluded.entry',
    ),
    dropCard: db.prepare('DELETE FROM roster_cards WHERE card_id = ? AND school = ?'),
    dropVersionsBefore: db.prepare('DELETE FROM roster_versions WHERE school = ? AND version < ?'),
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
    thinRosters: db.prepare<[Buffer, string]>(
      thinSuperseded('roster_versions', 'snapshot_body', ', delta_manifest = NULL, delta_body = NULL'),
    ),
    thinCatalogues: db.prepare<[Buffer, string]>(thinSuperseded('catalogue_versions', 'body')),
    rosterSchools: db.prepare<[], { school: string }>(
      'SELECT DISTINCT school FROM roster_versions ORDER BY school',
    ),
    useToken: db.prepare('UPDATE enrollment_tokens SET used_at = ? WHERE hash = ?'),
    forgetSpentTokens: db.prepare<[string, string]>(
      'DELETE FROM enrollment_tokens WHERE used_at < ? OR expires_at < ?',
    ),
    putCatalogue: db.prepare(
      'INSERT INTO catalogue_versions (school, version, manifest, body, created_at) VALUES (?, ?, ?, ?, ?)',
    ),
    latestCatalogueVersion: db.prepare<[string], { version: number | null }>(
      'SELECT max(version) AS version FROM catalogue_versions WHERE school = ?',
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
    insertLoss: db.prepare<
      [
        string,
        string,
        string,
        number | null,
        number | null,
        number,
        number,
        number,
        string | null,
        string | null,
        number | null,
        string,
        string | null,
      ],
      LossRow
    >(
      `INSERT INTO journal_losses (device, school, cause, first_seq, last_seq, bound, records, missing, reason, file, damaged_seq, declared_at, confirmed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    ),
    lossOfRange: db.prepare<[string, number, number], LossRow>(
      'SELECT * FROM journal_losses WHERE device = ? AND first_seq = ? AND last_seq = ? ORDER BY id DESC LIMIT 1',
    ),
    lossExplainedBy: db.prepare<[string, number], LossRow>(
      'SELECT * FROM journal_losses WHERE device = ? AND damaged_seq = ? ORDER BY id DESC LIMIT 1',
    ),
    confirmLoss: db.prepare<[string, string, string | null, number, number]>(
      'UPDATE journal_losses SET confirmed_at = ?, reason = ?, file = coalesce(?, file), damaged_seq = ? WHERE id = ?',
    ),
    lossTotals: db.prepare<
      [string | null],
      { losses: number; missing: number | null; last_at: string | null }
    >(
      'SELECT count(*) AS losses, sum(missing) AS missing, max(declared_at) AS last_at FROM journal_losses WHERE school = coalesce(?, school)',
    ),
  };

  /**
   * A device's `journal.damaged` record, committed: it confirms the fact of its break (taken from the
   * batch that declared it), or is the fact itself when no batch needed to (the bridge had those
   * records, or none had a number: records never written before a stop).
   */
  const keepLossRecord = (device: string, school: string, record: EventRecord, at: string) => {
    const data = record.data as JournalDamagedData;
    const held =
      (data.firstSeq !== undefined && data.lastSeq !== undefined
        ? statements.lossOfRange.get(device, data.firstSeq, data.lastSeq)
        : undefined) ?? statements.lossExplainedBy.get(device, record.seq);
    if (held) {
      statements.confirmLoss.run(at, data.reason, data.file ?? null, record.seq, held.id);
      return;
    }
    statements.insertLoss.run(
      device,
      school,
      data.cause,
      data.firstSeq ?? null,
      data.lastSeq ?? null,
      data.bound ? 1 : 0,
      data.records,
      data.firstSeq === undefined ? data.records : 0,
      data.reason,
      data.file ?? null,
      record.seq,
      at,
      at,
    );
  };

  // queryEvents and countEvents build their WHERE from the filter: each shape is prepared once.
  const prepared = statementCache(db);

  const grantOf = (token: string, now: string): TokenGrant | undefined => {
    const row = statements.tokenGrant.get(enrollmentTokenHash(token), utc(now));
    return row && { school: row.school, ...(row.device !== null ? { device: row.device } : {}) };
  };

  const cursor = (device: string): ChainPoint =>
    statements.cursor.get(device) ?? { seq: 0, hash: GENESIS_HASH };

  /**
   * Inserts the rows in multi-row statements (one round trip per few hundred records, which is what
   * a PostgreSQL commit costs), skipping any already there; returns the ids by seq of those it stored.
   */
  const insertEvents = (rows: EventRow[]): Map<number, number> => {
    const ids = new Map<number, number>();
    for (let from = 0; from < rows.length; from += INSERT_CHUNK) {
      const chunk = rows.slice(from, from + INSERT_CHUNK);
      const values = chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
      const sql = `INSERT INTO events ${EVENT_COLUMNS} VALUES ${values} ON CONFLICT DO NOTHING RETURNING id, seq`;
      for (const row of prepared(sql).all(...chunk.flat()) as { id: number; seq: number }[])
        ids.set(Number(row.seq), Number(row.id));
    }
    return ids;
  };

  const projections = new Projections();
  const commit = db.transaction(
    (device: string, school: string, records: EventRecord[], declared: DeclaredLoss | undefined) => {
      // Another bridge instance committing for the same device waits here, then reads its cursor.
      statements.lockDevice?.get(device);
      const held = cursor(device);
      // The cursor is the current epoch's: what continues it belongs to that epoch.
      const epoch = statements.epoch.get(device)?.epoch ?? 1;
      // A break the device declared, at or past the cursor: the chain goes on from its resume point.
      const resumes =
        declared !== undefined && declared.lastSeq >= held.seq && declared.firstSeq <= held.seq + 1;
      const start = resumes ? { seq: declared.lastSeq, hash: declared.resumeHash } : held;
      const receivedAt = new Date().toISOString();
      // Only what continues the stored chain: the next seq, linked to the hash before it.
      const run: { record: EventRecord; at: string }[] = [];
      let last = start;
      for (const record of records) {
        if (record.seq <= start.seq) continue;
        if (record.seq !== last.seq + 1 || record.prev !== last.hash || record.device !== device) break;
        run.push({ record, at: recordTime(record.at) });
        last = { seq: record.seq, hash: record.hash };
      }
      const ids = insertEvents(
        run.map(({ record, at }) => [
          device,
          epoch,
          school,
          record.seq,
          at,
          record.type,
          typeof record.data.personId === 'string' ? record.data.personId : null,
          JSON.stringify(record),
          receivedAt,
        ]),
      );
      const stored: CommittedEvent[] = [];
      const interpreted: CommittedEvent[] = [];
      const uninterpreted: UninterpretedRecord[] = [];
      const losses: EventRecord[] = [];
      for (const { record, at } of run) {
        const eventId = ids.get(record.seq);
        if (eventId === undefined) continue;
        // A known type with data of another shape (a faulty or hostile device) is kept, not read.
        const problem = eventDataProblem(record);
        const event = { eventId, device, school, at, record };
        stored.push(event);
        if (problem) uninterpreted.push({ seq: record.seq, type: record.type, problem });
        else {
          if (record.type === 'journal.damaged') losses.push(record);
          interpreted.push(event);
        }
      }
      const inserted = stored.length;
      // A declared break is a fact only once a record after it is stored: a run that does not link
      // declares nothing.
      const loss =
        resumes && last !== start
          ? toLoss(
              statements.insertLoss.get(
                device,
                school,
                declared.cause,
                declared.firstSeq,
                declared.lastSeq,
                declared.bound ? 1 : 0,
                declared.lastSeq - declared.firstSeq + 1,
                declared.lastSeq - held.seq,
                null,
                null,
                declared.damagedSeq,
                receivedAt,
                null,
              ) as LossRow,
            )
          : undefined;
      for (const record of losses) keepLossRecord(device, school, record, receivedAt);
      projections.run(stored, interpreted);
      if (last !== start) statements.setCursor.run(device, last.seq, last.hash);
      return {
        ...last,
        inserted,
        ...(uninterpreted.length ? { uninterpreted } : {}),
        ...(loss ? { loss } : {}),
      };
    },
  );

  const lossesShaped = (filter: { school?: string; device?: string; limit: number }): JournalLoss[] => {
    if (!(filter.limit >= 1)) return [];
    const where = whereOf([
      ['school = ?', filter.school],
      ['device = ?', filter.device],
    ]);
    const sql = `SELECT * FROM journal_losses ${where.sql} ORDER BY id DESC LIMIT ?`;
    return (prepared(sql).all(...where.params, Math.floor(filter.limit)) as LossRow[]).map(toLoss);
  };

  return {
    database: db,
    addCommitProjection: (project, options) => projections.add(project, options),
    cursor,
    commitRecords: (device, school, records, options) => commit(device, school, records, options?.loss),
    // One writer on SQLite: ids become visible in their order.
    settledEventId: db.dialect === 'postgres' ? settledEventIds(db) : () => Number.MAX_SAFE_INTEGER,
    journalLosses: lossesShaped,
    lossTotals(school) {
      const row = statements.lossTotals.get(school ?? null);
      return {
        losses: row?.losses ?? 0,
        missing: row?.missing ?? 0,
        ...(row?.last_at ? { lastAt: row.last_at } : {}),
      };
    },

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
        ['id <= ?', filter.throughId],
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
      for (const { school, cards, settings, version, forgotten } of commits) {
        for (const card of cards) statements.putCard.run(card.cardId, school, JSON.stringify(card));
        for (const cardId of forgotten ?? []) statements.dropCard.run(cardId, school);
        if (forgotten?.length) statements.dropVersionsBefore.run(school, version.version);
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
    forgetSpentTokens(now) {
      const at = utc(now);
      return statements.forgetSpentTokens.run(at, at).changes;
    },
    thinSupersededVersions(before) {
      return db.transaction(() => ({
        rosters: statements.thinRosters.run(Buffer.alloc(0), before).changes,
        catalogues: statements.thinCatalogues.run(Buffer.alloc(0), before).changes,
      }))();
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
    latestCatalogueVersion(school) {
      const version = statements.latestCatalogueVersion.get(school)?.version;
      return version === null || version === undefined ? undefined : Number(version);
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

    close,
  };
}
