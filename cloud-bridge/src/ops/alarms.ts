import type { EventData, EventType, JournalDamagedData, StorageState } from '@educard/terminal-sdk';
import type { Logger } from 'pino';
import type { CommittedEvent, SqlDatabase, SqlStatement } from '../store/index.js';
import type { Alarm } from './types.js';

/** What raises an alarm; external kinds (the central connector's) are any dotted name. */
export const ALARM_KINDS = {
  doorForced: 'door.forced',
  doorHeldOpen: 'door.held-open',
  emergencyRelease: 'door.emergency-release',
  lockdown: 'gate.lockdown',
  schoolLockdown: 'school.lockdown',
  diskLow: 'journal.disk-low',
  journalDamaged: 'journal.damaged',
  clockUnsynced: 'clock.unsynced',
  rosterRejected: 'roster.rejected',
  deviceOffline: 'device.offline',
  rosterStale: 'roster.stale',
  rosterExpiring: 'roster.expiring',
  calendarEmpty: 'calendar.empty',
  readerError: 'reader.error',
  dataInvalid: 'data.invalid',
} as const;

export interface AlarmInput {
  kind: string;
  message: string;
  school?: string;
  device?: string;
}

/** Where an alarm is: a device, or a school (or the whole district) for alarms of no one device. */
export interface AlarmSubject {
  school?: string;
  device?: string;
}

interface AlarmRow {
  id: number;
  kind: string;
  device: string;
  school: string;
  message: string;
  raised_at: string;
  last_at: string;
  count: number;
  acked_at: string | null;
  acked_by: string | null;
  cleared_at: string | null;
  cleared_by: string | null;
}

const toAlarm = (row: AlarmRow): Alarm => ({
  id: row.id,
  kind: row.kind,
  ...(row.school ? { school: row.school } : {}),
  ...(row.device ? { device: row.device } : {}),
  message: row.message,
  raisedAt: row.raised_at,
  lastAt: row.last_at,
  count: row.count,
  open: row.cleared_at === null,
  ...(row.acked_at ? { acknowledgedAt: row.acked_at } : {}),
  ...(row.acked_by ? { acknowledgedBy: row.acked_by } : {}),
  ...(row.cleared_at ? { clearedAt: row.cleared_at } : {}),
  ...(row.cleared_by ? { clearedBy: row.cleared_by } : {}),
});

/**
 * The alarms table: one open alarm per (kind, device) — per school or district for alarms of no
 * device. Raising an open one again counts it; acknowledging marks it and keeps it open; clearing
 * closes it, and the next raise opens a new one.
 */
export class Alarms {
  private readonly s;

  private readonly shaped = new Map<string, SqlStatement>();

  constructor(
    private readonly db: SqlDatabase,
    private readonly logger: Logger,
    private readonly now: () => Date,
    /** The storage a device last reported live, newer than any disk warning still in its backlog. */
    private readonly liveStorage: (device: string) => StorageState | undefined = () => undefined,
  ) {
    this.s = {
      open: db.prepare<[string, string, string], AlarmRow>(
        'SELECT * FROM ops_alarms WHERE kind = ? AND device = ? AND school = ? AND cleared_at IS NULL',
      ),
      insert: db.prepare<[string, string, string, string, string, string], AlarmRow>(
        `INSERT INTO ops_alarms (kind, device, school, message, raised_at, last_at, count)
         VALUES (?, ?, ?, ?, ?, ?, 1) RETURNING *`,
      ),
      again: db.prepare<[string, string, number], AlarmRow>(
        'UPDATE ops_alarms SET message = ?, last_at = ?, count = count + 1 WHERE id = ? RETURNING *',
      ),
      clear: db.prepare<[string, string | null, number], AlarmRow>(
        'UPDATE ops_alarms SET cleared_at = ?, cleared_by = ? WHERE id = ? AND cleared_at IS NULL RETURNING *',
      ),
      ack: db.prepare<[string, string, number], AlarmRow>(
        'UPDATE ops_alarms SET acked_at = ?, acked_by = ? WHERE id = ? AND cleared_at IS NULL RETURNING *',
      ),
      byId: db.prepare<[number], AlarmRow>('SELECT * FROM ops_alarms WHERE id = ?'),
      openByKind: db.prepare<[], { kind: string; count: number }>(
        'SELECT kind, count(*) AS count FROM ops_alarms WHERE cleared_at IS NULL GROUP BY kind ORDER BY kind',
      ),
      openOfDevice: db.prepare<[string], AlarmRow>(
        'SELECT * FROM ops_alarms WHERE device = ? AND cleared_at IS NULL ORDER BY id',
      ),
      reword: db.prepare<[string, number]>('UPDATE ops_alarms SET message = ? WHERE id = ?'),
      forgetCleared: db.prepare<[string]>(
        'DELETE FROM ops_alarms WHERE cleared_at IS NOT NULL AND cleared_at < ?',
      ),
      readerLost: db.prepare<[string, string, string]>(
        'INSERT INTO ops_missing_readers (device, reader, since) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      readerBack: db.prepare<[string, string]>(
        'DELETE FROM ops_missing_readers WHERE device = ? AND reader = ?',
      ),
      readersForgotten: db.prepare<[string]>('DELETE FROM ops_missing_readers WHERE device = ?'),
      missingReaders: db
        .prepare<[string], string>('SELECT reader FROM ops_missing_readers WHERE device = ? ORDER BY reader')
        .pluck(),
    };
  }

  /** Opens an alarm, or counts the open one again. */
  raise(input: AlarmInput): Alarm {
    const at = this.now().toISOString();
    const held = this.s.open.get(input.kind, input.device ?? '', input.school ?? '');
    if (held) return toAlarm(this.s.again.get(input.message, at, held.id) as AlarmRow);
    const raised = toAlarm(
      this.s.insert.get(
        input.kind,
        input.device ?? '',
        input.school ?? '',
        input.message,
        at,
        at,
      ) as AlarmRow,
    );
    this.logger.warn(
      { alarm: raised.id, kind: raised.kind, device: raised.device, school: raised.school },
      `alarm raised: ${raised.message}`,
    );
    return raised;
  }

  /** Opens an alarm that a condition holds (computed ones): an open one is left as it is. */
  hold(input: AlarmInput): void {
    if (!this.s.open.get(input.kind, input.device ?? '', input.school ?? '')) this.raise(input);
  }

  /**
   * Opens an alarm that a condition holds, or raises the open one again when its facts (its message)
   * changed: another version, another school year. The same facts leave it as it is.
   */
  restate(input: AlarmInput): void {
    const held = this.s.open.get(input.kind, input.device ?? '', input.school ?? '');
    if (held?.message !== input.message) this.raise(input);
  }

  /** Closes the open alarm of this kind and subject, if there is one. */
  clear(kind: string, subject: AlarmSubject = {}, by?: string): Alarm | undefined {
    const held = this.s.open.get(kind, subject.device ?? '', subject.school ?? '');
    return held ? this.clearById(held.id, by) : undefined;
  }

  clearById(id: number, by?: string): Alarm | undefined {
    const row = this.s.clear.get(this.now().toISOString(), by ?? null, id);
    if (!row) return undefined;
    // Cleared by hand, a reader alarm forgets the missing readers (one replaced by another name).
    if (row.kind === ALARM_KINDS.readerError && row.device) this.s.readersForgotten.run(row.device);
    this.logger.info({ alarm: id, kind: row.kind, device: row.device || undefined, by }, 'alarm cleared');
    return toAlarm(row);
  }

  acknowledge(id: number, by: string): Alarm | undefined {
    const row = this.s.ack.get(this.now().toISOString(), by, id);
    if (row) this.logger.info({ alarm: id, kind: row.kind, by }, 'alarm acknowledged');
    return row ? toAlarm(row) : undefined;
  }

  /** The retention purge's: removes the alarms cleared before the instant given; how many. */
  forgetClearedBefore(before: Date): number {
    return this.s.forgetCleared.run(before.toISOString()).changes;
  }

  get(id: number): Alarm | undefined {
    const row = this.s.byId.get(id);
    return row ? toAlarm(row) : undefined;
  }

  /**
   * A bound reader back (after an unplug, or found when the gateway starts): the alarm clears once no
   * reader of the device is missing, and otherwise names those still missing.
   */
  private readerBack(subject: { device: string; school: string }, reader: string): void {
    this.s.readerBack.run(subject.device, reader);
    if (this.s.missingReaders.all(subject.device).length === 0) {
      this.clear(ALARM_KINDS.readerError, subject);
      return;
    }
    this.reword(ALARM_KINDS.readerError, subject, this.unplugged(subject.device));
  }

  private unplugged(device: string): string {
    const missing = this.s.missingReaders.all(device);
    return missing.length === 1
      ? `reader ${missing[0]} unplugged`
      : `readers unplugged: ${missing.join(', ')}`;
  }

  /**
   * A device's live storage report: its disk full or low raises the disk alarm at once (the journal
   * cannot say so while it cannot write), and a report of a disk that is fine again clears it.
   */
  storage(subject: { device: string; school: string }, storage: StorageState): void {
    if (!storage.diskFull && !storage.diskLow) {
      this.clear(ALARM_KINDS.diskLow, subject, 'system');
      return;
    }
    const free =
      storage.freeBytes === undefined ? '' : `, ${Math.round(storage.freeBytes / 1_048_576)} MiB free`;
    const message = storage.diskFull
      ? `journal disk full: ${storage.held} of ${storage.maxHeld} records held in memory${storage.lost ? `, ${storage.lost} lost` : ''}${free}`
      : `journal disk low${free}`;
    const held = this.s.open.get(ALARM_KINDS.diskLow, subject.device, subject.school);
    if (!held) this.raise({ ...subject, kind: ALARM_KINDS.diskLow, message });
    else if (held.message !== message) this.s.reword.run(message, held.id);
  }

  /** Says what became of an open alarm's condition, leaving it open; nothing when none is open. */
  private reword(kind: string, subject: { device: string; school: string }, message: string): void {
    const held = this.s.open.get(kind, subject.device, subject.school);
    if (held) this.s.reword.run(message, held.id);
  }

  /** How many alarms of each kind are open, district-wide. */
  openByKind(): { kind: string; count: number }[] {
    return this.s.openByKind.all();
  }

  openOfDevice(device: string): Alarm[] {
    return this.s.openOfDevice.all(device).map(toAlarm);
  }

  /** Newest first; `school` keeps that school's alarms only (district-wide ones have none). */
  list(filter: { school?: string; open?: boolean; limit: number }): Alarm[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.school !== undefined) {
      where.push('school = ?');
      params.push(filter.school);
    }
    if (filter.open) where.push('cleared_at IS NULL');
    const sql = `SELECT * FROM ops_alarms ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    let statement = this.shaped.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.shaped.set(sql, statement);
    }
    return (statement.all(...params, filter.limit) as AlarmRow[]).map(toAlarm);
  }

  /**
   * The commit projection: alarms from what the devices journaled, in the transaction that stores
   * it. A device's clock is judged by its latest record in the batch.
   */
  project(events: CommittedEvent[]): void {
    const clockOf = new Map<string, { school: string; synced: boolean }>();
    for (const { device, school, record } of events) {
      const subject = { device, school };
      // Each record's data has passed its type's schema (commitRecords): it is read as that type.
      const data = <T extends EventType>(_type: T) => record.data as EventData<T>;
      switch (record.type) {
        case 'door.forced':
          this.raise({
            ...subject,
            kind: ALARM_KINDS.doorForced,
            message: `door forced open at ${data('door.forced').station}`,
          });
          break;
        case 'door.held-open': {
          const { station, openForMs } = data('door.held-open');
          this.raise({
            ...subject,
            kind: ALARM_KINDS.doorHeldOpen,
            message: `door held open at ${station} for ${Math.round(openForMs / 1000)} s`,
          });
          break;
        }
        case 'door.emergency-release':
          this.raise({
            ...subject,
            kind: ALARM_KINDS.emergencyRelease,
            message: `emergency release at ${data('door.emergency-release').station}: the door is held unlocked`,
          });
          break;
        case 'door.emergency-restored': {
          // The alarm stays open: a release (a fire, a drill, a cut wire) is for a person to look at.
          const { station, releasedForMs } = data('door.emergency-restored');
          this.reword(
            ALARM_KINDS.emergencyRelease,
            subject,
            `emergency release at ${station}: the door was held unlocked for ${Math.round(releasedForMs / 1000)} s, locked again at ${record.at}`,
          );
          break;
        }
        case 'gate.lockdown':
          // A lockdown the bridge ordered has its school's alarm already (schoolLockdown).
          if (data('gate.lockdown').source === 'bridge') break;
          this.raise({
            ...subject,
            kind: ALARM_KINDS.lockdown,
            message: `lockdown at ${data('gate.lockdown').station}: entries refused`,
          });
          break;
        case 'gate.lockdown-lifted': {
          // Like a release, a lockdown (an intruder, a drill, a switch turned by mistake) stays open.
          const { station, lockedForMs, source } = data('gate.lockdown-lifted');
          if (source === 'bridge') break;
          this.reword(
            ALARM_KINDS.lockdown,
            subject,
            `lockdown at ${station}: entries were refused for ${Math.round(lockedForMs / 1000)} s, lifted at ${record.at}`,
          );
          break;
        }
        case 'journal.disk-low': {
          // A warning from the backlog after the device has said live that its disk is fine again.
          const live = this.liveStorage(device);
          if (live && !live.diskLow && !live.diskFull) break;
          this.raise({
            ...subject,
            kind: ALARM_KINDS.diskLow,
            message: `journal disk low: ${Math.round(data('journal.disk-low').freeBytes / 1_048_576)} MiB free`,
          });
          break;
        }
        case 'journal.damaged':
          this.raise({
            ...subject,
            kind: ALARM_KINDS.journalDamaged,
            message: lossMessage(data('journal.damaged')),
          });
          break;
        case 'roster.rejected':
          this.raise({
            ...subject,
            kind: ALARM_KINDS.rosterRejected,
            message: `roster rejected: ${data('roster.rejected').reason.slice(0, 200)}`,
          });
          break;
        case 'roster.applied':
          this.clear(ALARM_KINDS.rosterRejected, subject);
          break;
        case 'reader.fault': {
          const { reader, message } = data('reader.fault');
          this.raise({
            ...subject,
            kind: ALARM_KINDS.readerError,
            message: `reader error${reader ? ` at ${reader}` : ''}: ${message.slice(0, 200)}`,
          });
          break;
        }
        case 'reader.lost':
          this.s.readerLost.run(device, data('reader.lost').reader, record.at);
          this.raise({ ...subject, kind: ALARM_KINDS.readerError, message: this.unplugged(device) });
          break;
        case 'reader.connected':
          this.readerBack(subject, data('reader.connected').reader);
          break;
      }
      // The journal stamps its own warnings unsynced whatever the clock: they say nothing of it.
      if (record.type !== 'journal.disk-low' && record.type !== 'journal.damaged')
        clockOf.set(device, { school, synced: record.clock === 'synced' });
    }
    for (const [device, { school, synced }] of clockOf) {
      if (synced) this.clear(ALARM_KINDS.clockUnsynced, { device, school });
      else
        this.hold({
          device,
          school,
          kind: ALARM_KINDS.clockUnsynced,
          message: 'clock not synced: events carry an untrusted time',
        });
    }
  }
}

/** What an operator reads of a device's journal loss. */
export function lossMessage(loss: JournalDamagedData): string {
  const range =
    loss.firstSeq === undefined
      ? `${loss.records} record(s)`
      : `records ${loss.firstSeq} to ${loss.lastSeq}${loss.bound ? ' (at most)' : ''}`;
  return `journal ${loss.cause}: ${range} lost on the device${loss.file ? `; ${loss.file} quarantined` : ''}`;
}
