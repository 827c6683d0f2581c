import { type CommitProjection, committedData, type SqlDatabase } from '../store/index.js';

/** One venue's day: visitors admitted (each card once), re-entries, class visits, refusals. */
export interface VenueDay {
  /** The venue's site: the school its gateways are enrolled in. */
  site: string;
  venue: string;
  day: string;
  visits: number;
  reentries: number;
  classes: number;
  refused: number;
}

/** The projection that keeps venue_admissions in the transaction that stores the events. */
export function admissionProjection(db: SqlDatabase): CommitProjection {
  const insert = db.prepare(
    `INSERT INTO venue_admissions (event_id, site, venue, day, admitted, reentry, booking)
     VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  );
  return (events) => {
    for (const event of events) {
      const visit = committedData(event, 'venue.visit');
      const refused = committedData(event, 'venue.refused');
      const data = visit ?? refused;
      if (!data) continue;
      insert.run(
        event.eventId,
        event.school,
        data.venue,
        data.day,
        visit ? 1 : 0,
        visit?.reentry ? 1 : 0,
        visit?.booking ?? null,
      );
    }
  };
}

/** Visits per day from `fromDay` on, of one site (a school id) or of every one. */
export function venueDays(db: SqlDatabase, filter: { site?: string; fromDay: string }): VenueDay[] {
  return db
    .prepare<[{ site: string | null; fromDay: string }], VenueDay>(
      `SELECT site, venue, day,
              sum(CASE WHEN admitted = 1 AND reentry = 0 THEN 1 ELSE 0 END) AS visits,
              sum(CASE WHEN admitted = 1 AND reentry = 1 THEN 1 ELSE 0 END) AS reentries,
              count(DISTINCT booking) AS classes,
              sum(CASE WHEN admitted = 0 THEN 1 ELSE 0 END) AS refused
       FROM venue_admissions
       WHERE day >= @fromDay AND (CAST(@site AS TEXT) IS NULL OR site = @site)
       GROUP BY site, venue, day ORDER BY day DESC, site, venue`,
    )
    .all({ site: filter.site ?? null, fromDay: filter.fromDay });
}
