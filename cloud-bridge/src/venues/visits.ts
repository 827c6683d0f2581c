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
    `INSERT OR IGNORE INTO venue_admissions (event_id, site, venue, day, card_id, admitted, reentry, booking)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
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
        data.cardId,
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
              sum(admitted AND NOT reentry) AS visits,
              sum(admitted AND reentry) AS reentries,
              count(DISTINCT booking) AS classes,
              sum(NOT admitted) AS refused
       FROM venue_admissions
       WHERE day >= @fromDay AND (@site IS NULL OR site = @site)
       GROUP BY site, venue, day ORDER BY day DESC, site, venue`,
    )
    .all({ site: filter.site ?? null, fromDay: filter.fromDay });
}
