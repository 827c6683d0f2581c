import type { CardChange } from '../http/index.js';
import type { SqlDatabase } from '../store/index.js';
import type { CardChangeView } from './types.js';

/** Every card status change made through the API, with the roster version that carries it. */
export class CardHistory {
  private readonly s;

  constructor(db: SqlDatabase) {
    this.s = {
      insert: db.prepare(
        'INSERT INTO ops_card_changes (card_id, school, person_id, status, version, at, actor) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      ofCard: db.prepare<[string], CardChangeView>(
        'SELECT status, version, at, actor FROM ops_card_changes WHERE card_id = ? ORDER BY id',
      ),
    };
  }

  record(change: CardChange): void {
    this.s.insert.run(
      change.cardId,
      change.school,
      change.personId,
      change.status,
      change.version,
      change.at,
      change.actor,
    );
  }

  of(cardId: string): CardChangeView[] {
    return this.s.ofCard.all(cardId);
  }
}
