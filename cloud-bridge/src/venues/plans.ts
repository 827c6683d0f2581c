import { randomBytes } from 'node:crypto';
import {
  type ClassVisit,
  ClassVisit as ClassVisitSchema,
  describeIssues,
  issueVenuePlan,
  SerialQueue,
  SPEC_VERSION,
  topics,
  type VenuePlan,
  VenuePlanManifest,
} from '@educard/terminal-sdk';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { ForgottenBookings } from '../retention/index.js';
import { needsRenewal, RENEWAL_CHECK_MS, type RosterKeyring, renewalTimer } from '../roster/index.js';
import { type BridgeStore, lockWithinTransaction, type SqlDatabase } from '../store/index.js';
import { announceKeySets, RETAINED } from './announce.js';

export interface VenuePlansDeps {
  store: BridgeStore;
  client: MqttClient;
  keys: RosterKeyring;
  logger: Logger;
  now?: () => Date;
  /** How long a plan's manifest stays valid; signed again once half has passed. */
  manifestTtlMs?: number;
  renewalCheckMs?: number;
}

/** A class visit as it is booked: the class by its school and name; teachers by card, or the class's own. */
export interface BookingRequest {
  school: string;
  class: string;
  date: string;
  from: string;
  until: string;
  /** Card numbers of the teachers who will admit the class; by default the active cards of its teachers. */
  teachers?: string[];
}

export interface Booking extends ClassVisit {
  venue: string;
  createdBy: string;
  createdAt: string;
  cancelledAt?: string;
}

export class BookingRefused extends Error {
  constructor(
    readonly status: 400 | 404 | 409 | 422,
    message: string,
  ) {
    super(message);
    this.name = 'BookingRefused';
  }
}

interface BookingRow {
  booking_id: string;
  venue: string;
  school: string;
  class: string;
  date: string;
  from_time: string;
  until_time: string;
  teachers: string;
  pupils: string;
  created_by: string;
  created_at: string;
  cancelled_at: string | null;
}

const DEFAULT_TTL_MS = 30 * 86_400_000;
const DAY_MS = 86_400_000;

function bookingOf(row: BookingRow): Booking {
  return {
    bookingId: row.booking_id,
    venue: row.venue,
    school: row.school,
    class: row.class,
    date: row.date,
    from: row.from_time,
    until: row.until_time,
    teachers: JSON.parse(row.teachers) as string[],
    pupils: JSON.parse(row.pupils) as string[],
    createdBy: row.created_by,
    createdAt: row.created_at,
    ...(row.cancelled_at ? { cancelledAt: row.cancelled_at } : {}),
  };
}

/**
 * Forgets the class visits booked for a date before their venue's cutoff (the retention of its visit
 * events), with the cards of their pupils and teachers: the events say who came, for as long as they
 * are kept. By venue, how many and up to which instant. A function of the tables alone: a backup's
 * copy is purged with it too.
 */
export function forgetBookingsBefore(
  db: SqlDatabase,
  cutoffOf: (venue: string) => string | undefined,
): ForgottenBookings[] {
  const venues = db.prepare<[], string>('SELECT DISTINCT venue FROM venue_bookings ORDER BY venue').pluck();
  const forget = db.prepare('DELETE FROM venue_bookings WHERE venue = ? AND date < ?');
  const forgotten: ForgottenBookings[] = [];
  for (const venue of venues.all()) {
    const upTo = cutoffOf(venue);
    if (upTo === undefined) continue;
    const count = forget.run(venue, upTo.slice(0, 10)).changes;
    if (count > 0) forgotten.push({ venue, count, upTo });
  }
  return forgotten;
}

/**
 * Class visits booked at venues (docs/venues.md): a school books a class for a slot on a day, the
 * bridge names its pupils' and teachers' cards from the school's roster, and publishes the venue's
 * plan (its visits from yesterday on) signed by the roster keys, retained for the venue's gateways.
 */
export class VenuePlans {
  private readonly queue = new SerialQueue();
  private renewal: { stop(): void } | undefined;
  private readonly sql;

  constructor(private readonly deps: VenuePlansDeps) {
    const db = deps.store.database;
    this.sql = {
      insert: db.prepare(
        `INSERT INTO venue_bookings (booking_id, venue, school, class, date, from_time, until_time, teachers, pupils, created_by, created_at)
         VALUES (@bookingId, @venue, @school, @class, @date, @from, @until, @teachers, @pupils, @createdBy, @createdAt)`,
      ),
      get: db.prepare<[string], BookingRow>('SELECT * FROM venue_bookings WHERE booking_id = ?'),
      cancel: db.prepare(
        'UPDATE venue_bookings SET cancelled_at = ? WHERE booking_id = ? AND cancelled_at IS NULL',
      ),
      ofVenue: db.prepare<[string, string], BookingRow>(
        'SELECT * FROM venue_bookings WHERE venue = ? AND date >= ? ORDER BY date, from_time, booking_id',
      ),
      venues: db.prepare<[], { venue: string }>('SELECT DISTINCT venue FROM venue_plans ORDER BY venue'),
      latest: db.prepare<[string], { version: number; manifest: string; body: Buffer }>(
        'SELECT version, manifest, body FROM venue_plans WHERE venue = ? ORDER BY version DESC LIMIT 1',
      ),
      putPlan: db.prepare(
        'INSERT INTO venue_plans (venue, version, manifest, body, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      dropOlderPlans: db.prepare('DELETE FROM venue_plans WHERE venue = ? AND version < ?'),
    };
  }

  /** Announces every venue's plan again, signing first those that need it, and from then on on a timer. */
  async start(): Promise<void> {
    await this.renew(true);
    this.renewal ??= renewalTimer(() => this.renew(false), {
      everyMs: this.deps.renewalCheckMs ?? RENEWAL_CHECK_MS,
      logger: this.deps.logger,
      what: 'venue plan renewal',
    });
  }

  stop(): void {
    this.renewal?.stop();
    this.renewal = undefined;
  }

  /** Every plan signed under an older key set or past half its validity, signed again; with `announce`, the others announced. */
  renew(announce = false): Promise<{ venue: string; version: number }[]> {
    return this.queue.run(async () => {
      const renewed: { venue: string; version: number }[] = [];
      for (const { venue } of this.sql.venues.all()) {
        const latest = this.sql.latest.get(venue);
        const manifest = latest ? VenuePlanManifest.safeParse(JSON.parse(latest.manifest).signed) : undefined;
        const due = needsRenewal(manifest?.success ? manifest.data : undefined, {
          keySetVersion: this.deps.keys.version,
          nowMs: this.now().getTime(),
          ttlMs: this.ttlMs,
        });
        if (due) renewed.push({ venue, version: await this.publish(venue) });
        else if (announce && latest) await this.announce(venue, latest);
      }
      return renewed;
    });
  }

  /** Books a class visit: its cards taken from the school's roster now; the venue's plan published. */
  book(
    venue: string,
    request: BookingRequest,
    createdBy: string,
  ): Promise<{ booking: Booking; version: number }> {
    return this.queue.run(async () => {
      const { store } = this.deps;
      const cards = store
        .rosterCards(request.school)
        .filter((c) => c.status === 'active' && c.class === request.class);
      if (cards.length === 0 && store.rosterCards(request.school).length === 0)
        throw new BookingRefused(404, `no roster for school ${request.school}`);
      const pupils = cards.filter((c) => c.role === 'student').map((c) => c.cardId);
      const teachers = request.teachers ?? cards.filter((c) => c.role === 'teacher').map((c) => c.cardId);
      if (pupils.length === 0)
        throw new BookingRefused(
          422,
          `class ${request.class} of ${request.school} has no pupil with an active card`,
        );
      if (teachers.length === 0)
        throw new BookingRefused(
          422,
          `class ${request.class} of ${request.school} has no teacher with an active card: name the teachers' cards`,
        );
      const visit = ClassVisitSchema.safeParse({
        bookingId: `b-${randomBytes(6).toString('hex')}`,
        school: request.school,
        class: request.class,
        date: request.date,
        from: request.from,
        until: request.until,
        teachers,
        pupils,
      });
      if (!visit.success) throw new BookingRefused(422, describeIssues(visit.error));
      const booking: Booking = { ...visit.data, venue, createdBy, createdAt: this.now().toISOString() };
      this.sql.insert.run({
        ...booking,
        teachers: JSON.stringify(booking.teachers),
        pupils: JSON.stringify(booking.pupils),
      });
      return { booking, version: await this.publish(venue) };
    });
  }

  /** Cancels a booking; the venue's plan is published without it. */
  cancel(bookingId: string): Promise<{ booking: Booking; version: number }> {
    return this.queue.run(async () => {
      const row = this.sql.get.get(bookingId);
      if (!row) throw new BookingRefused(404, `no booking ${bookingId}`);
      if (this.sql.cancel.run(this.now().toISOString(), bookingId).changes === 0)
        throw new BookingRefused(409, `booking ${bookingId} is cancelled already`);
      const booking = bookingOf(this.sql.get.get(bookingId) as BookingRow);
      return { booking, version: await this.publish(row.venue) };
    });
  }

  booking(bookingId: string): Booking | undefined {
    const row = this.sql.get.get(bookingId);
    return row ? bookingOf(row) : undefined;
  }

  /** A venue's bookings from `fromDate` on, cancelled ones included. */
  bookings(venue: string, fromDate = '0000-00-00'): Booking[] {
    return this.sql.ofVenue.all(venue, fromDate).map(bookingOf);
  }

  private get ttlMs(): number {
    return this.deps.manifestTtlMs ?? DEFAULT_TTL_MS;
  }

  /** The venue's plan: its visits not cancelled, from yesterday (in any time zone) on. */
  private async publish(venue: string): Promise<number> {
    const { keys, store, logger } = this.deps;
    const db = store.database;
    const now = this.now();
    const fromDate = new Date(now.getTime() - DAY_MS).toISOString().slice(0, 10);
    // Under a lock across the instances sharing the store: the next version, with every booking made
    // through any of them until then.
    const { version, visits, manifest, issued } = db.transaction(() => {
      lockWithinTransaction(db, `venue-plan/${venue}`);
      const visits = this.bookings(venue, fromDate)
        .filter((b) => !b.cancelledAt)
        .map(({ venue: _v, createdBy: _b, createdAt: _a, cancelledAt: _c, ...visit }) => visit);
      const version = (this.sql.latest.get(venue)?.version ?? 0) + 1;
      const plan: VenuePlan = {
        kind: 'venue-plan',
        school: venue,
        version,
        issuedAt: now.toISOString(),
        visits,
      };
      const issued = issueVenuePlan(plan, {
        expiresAt: new Date(now.getTime() + this.ttlMs).toISOString(),
        keySetVersion: keys.version,
        signers: keys.signers,
      });
      const manifest = Buffer.from(issued.manifest).toString('utf8');
      this.sql.putPlan.run(venue, version, manifest, issued.body, plan.issuedAt);
      // Only the latest is ever read or announced; the older ones name the pupils of past visits.
      this.sql.dropOlderPlans.run(venue, version);
      return { version, visits, manifest, issued };
    })();
    logger.info({ venue, version, visits: visits.length }, 'venue plan published');
    await this.announce(venue, { manifest, body: Buffer.from(issued.body) });
    return version;
  }

  private async announce(venue: string, plan: { manifest: string; body: Buffer }): Promise<void> {
    await announceKeySets(this.deps.client, this.deps.keys);
    await this.deps.client.publishAsync(
      topics.venuePlan(venue),
      JSON.stringify({
        v: SPEC_VERSION,
        manifest: JSON.parse(plan.manifest),
        body: plan.body.toString('utf8'),
      }),
      RETAINED,
    );
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }
}
