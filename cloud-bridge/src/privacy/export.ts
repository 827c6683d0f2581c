import type { CardEntry } from '@educard/terminal-sdk';
import type { AuditFilter, StoredAuditEntry } from '../accounts/index.js';
import { toCsv } from '../csv/index.js';
import type { Directory, DirectoryPerson, LeaveRecord } from '../directory/index.js';
import type { CatalogueService, LoanLedger, LoanRecord } from '../library/index.js';
import { type HeldNotice, noticesAbout } from '../notices/index.js';
import type { BridgeStore, StoredEvent } from '../store/index.js';
import type { Transfer } from '../transfers/index.js';

/** Everything the bridge holds on one person: a parent's subject-access request answered whole. */
export interface SubjectExport {
  personId: string;
  exportedAt: string;
  person?: DirectoryPerson;
  cards: CardEntry[];
  events: StoredEvent[];
  /** Each with the title the school's catalogue gives its item now (a barcode tells a parent nothing). */
  loans: (LoanRecord & { title?: string })[];
  transfers: Transfer[];
  /** Their leaves (sick, personal…) as the central system sent them, cancelled ones included. */
  leaves: LeaveRecord[];
  /** The notices to their parents the bridge still holds (kept a week once delivered), and how far each went. */
  notices: HeldNotice[];
  /** The audit entries about them: who read or changed their data, and when. */
  audit: StoredAuditEntry[];
}

export interface SubjectSources {
  store: BridgeStore;
  ledger: Pick<LoanLedger, 'loans'>;
  catalogue: Pick<CatalogueService, 'titlesOf'>;
  directory: Directory;
  transfers: { ofPerson(personId: string): Transfer[] };
  audit: { query(filter: AuditFilter): StoredAuditEntry[] };
}

const PAGE = 1000;

function allEvents(store: BridgeStore, personId: string): StoredEvent[] {
  const events: StoredEvent[] = [];
  for (;;) {
    const page = store.queryEvents({
      personId,
      limit: PAGE,
      ...(events.length ? { afterId: events.at(-1)?.id } : {}),
    });
    events.push(...page);
    if (page.length < PAGE) return events;
  }
}

function allAudit(audit: SubjectSources['audit'], personId: string): StoredAuditEntry[] {
  const entries: StoredAuditEntry[] = [];
  for (;;) {
    const before = entries.at(-1)?.id;
    const page = audit.query({ target: `person:${personId}`, limit: PAGE, ...(before ? { before } : {}) });
    entries.push(...page);
    if (page.length < PAGE) return entries;
  }
}

/** Undefined when the bridge holds nothing on the person. */
export function subjectExport(
  sources: SubjectSources,
  personId: string,
  now: Date,
): SubjectExport | undefined {
  const { store, directory } = sources;
  const person = directory.person(personId);
  const cards = store.personCards(personId);
  const events = allEvents(store, personId);
  const transfers = sources.transfers.ofPerson(personId);
  const leaves = directory.leavesOf(personId);
  const notices = noticesAbout(store.database, personId);
  const schools = new Set([
    ...(person ? [person.school] : []),
    ...cards.map((c) => c.school),
    ...events.map((e) => e.school),
    ...transfers.flatMap((t) => [t.from, t.to]),
  ]);
  const loans = [...schools].flatMap((school) => {
    const titleOf = sources.catalogue.titlesOf(school);
    return sources.ledger.loans(school, { personId, limit: 100_000 }).map((loan) => {
      const title = titleOf(loan.itemId);
      return title ? { ...loan, title } : loan;
    });
  });
  if ([cards, events, loans, transfers, leaves, notices].every((held) => held.length === 0) && !person)
    return undefined;
  return {
    personId,
    exportedAt: now.toISOString(),
    ...(person ? { person } : {}),
    cards,
    events,
    loans,
    transfers,
    leaves,
    notices,
    audit: allAudit(sources.audit, personId),
  };
}

export const SUBJECT_CSV_COLUMNS = ['section', 'at', 'school', 'kind', 'id', 'detail'] as const;

/** The same export as one table: a row per fact, its details as JSON in the last column. */
export function subjectCsv(data: SubjectExport): string {
  const json = (value: unknown) => JSON.stringify(value);
  const rows: (string | number | undefined)[][] = [[...SUBJECT_CSV_COLUMNS]];
  if (data.person)
    rows.push(['person', undefined, data.person.school, data.person.role, data.person.id, json(data.person)]);
  for (const card of data.cards)
    rows.push(['card', card.validFrom, card.school, card.status, card.cardId, json(card)]);
  for (const event of data.events)
    rows.push([
      'event',
      event.record.at,
      event.school,
      event.record.type,
      `${event.record.device}:${event.record.seq}`,
      json(event.record.data),
    ]);
  for (const loan of data.loans)
    rows.push([
      'loan',
      loan.checkedOutAt,
      loan.school,
      loan.returnedAt ? 'returned' : 'open',
      loan.loanId,
      json(loan),
    ]);
  for (const transfer of data.transfers)
    rows.push([
      'transfer',
      transfer.effectiveAt,
      transfer.to,
      transfer.source,
      String(transfer.id),
      json(transfer),
    ]);
  for (const leave of data.leaves)
    rows.push(['leave', leave.from, leave.school, leave.kind, leave.id, json(leave)]);
  for (const { notice, ...held } of data.notices)
    rows.push([
      'notice',
      held.queuedAt,
      notice.school,
      'kind' in notice ? notice.kind : 'passage',
      notice.id,
      json({ ...held, notice }),
    ]);
  for (const entry of data.audit)
    rows.push([
      'audit',
      entry.at,
      entry.school,
      entry.action,
      String(entry.id),
      json({ actor: entry.actor, role: entry.role, outcome: entry.outcome }),
    ]);
  return toCsv(rows);
}
