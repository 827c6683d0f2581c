import { type CardEntry, describeIssues, maskCardId } from '@educard/terminal-sdk';
import type { Logger } from 'pino';
import type { Directory, DirectoryPerson } from '../directory/index.js';
import { type BridgeStore, logFailure } from '../store/index.js';
import { transferDateProblem } from '../transfers/index.js';
import { type ChangeApplier, directoryPerson } from './apply.js';
import type { CentralClient } from './client.js';
import { ChangePage, ChangeRecord, type FeedCard, type FeedProblem } from './contract.js';
import type { CentralState } from './tables.js';

export interface FeedSettings {
  intervalMs: number;
  pageSize: number;
}

export interface FeedDeps {
  store: BridgeStore;
  directory: Directory;
  applier: ChangeApplier;
  /** Takes the feed's revocations into the district's hotlist (docs/hotlist.md). */
  hotlist?: { applyCentral(changes: { cardId: string; status: string }[]): Promise<unknown> };
  /**
   * A person the feed makes inactive (they left the district): removed as `educard-bridge people
   * remove` does (Leavers.remove: cards cancelled at once, notices stopped, anonymised later).
   */
  onLeft?: (personId: string) => Promise<void>;
  state: CentralState;
  client: CentralClient;
  settings: FeedSettings;
  logger: Logger;
}

export interface PageResult {
  applied: number;
  problems: FeedProblem[];
  /** The roster version each school's card changes went out as. */
  versions: { school: string; version: number }[];
  /** The ids of the transfers the page made. */
  transfers: number[];
}

export interface PullResult {
  pages: number;
  applied: number;
  problems: number;
  cursor?: string;
}

export interface StoredProblem extends FeedProblem {
  at: string;
  cursor: string;
  reported: boolean;
}

export interface FeedStatus {
  cursor?: string;
  lastPullAt?: string;
  lastError?: string;
  problems: number;
  latestProblems: StoredProblem[];
}

/**
 * Checks a page of the change feed as a whole. A record is good when it is well-formed and what it
 * names is known (its school, its person) either already or from a good record of the same page. A
 * card already on another school's roster is good when it is the same person's: they moved (a
 * transfer); a card of another person stays a duplicate.
 */
export function checkPage(
  raw: unknown[],
  known: {
    school: (id: string) => boolean;
    person: (id: string) => DirectoryPerson | undefined;
    studentNumberHolder: (number: string) => string | undefined;
    card: (cardId: string) => CardEntry | undefined;
    uidHolder: (school: string, uid: string) => CardEntry | undefined;
    /** The school's date now, and the person's latest transfer date. */
    today: (school: string) => string;
    lastTransferDate: (personId: string) => string | undefined;
  },
): { good: ChangeRecord[]; problems: FeedProblem[] } {
  const problems: FeedProblem[] = [];
  const parsed: ChangeRecord[] = [];
  for (const record of raw) {
    const result = parseRecord(record);
    if ('problem' in result) problems.push(result);
    else parsed.push(result);
  }
  const bad = (record: ChangeRecord, id: string, problem: string) =>
    problems.push({ changeId: record.changeId, kind: record.kind, id, problem });
  const of = <K extends ChangeRecord['kind']>(kind: K) =>
    parsed.filter((r): r is Extract<ChangeRecord, { kind: K }> => r.kind === kind);
  const good: ChangeRecord[] = [];

  const schools = new Set(of('school').map((s) => s.id));
  const schoolKnown = (id: string) => schools.has(id) || known.school(id);
  good.push(...of('school'));

  for (const entry of of('class')) {
    if (!schoolKnown(entry.school)) bad(entry, entry.id, `unknown school ${entry.school}`);
    else good.push(entry);
  }

  /** What is wrong with the date a record gives for its person's transfer, if anything. */
  const dateProblem = (date: string | undefined, school: string, personId: string) =>
    date === undefined
      ? undefined
      : transferDateProblem(date, school, known.today(school), known.lastTransferDate(personId));

  const persons = new Map<string, DirectoryPerson>();
  const numbers = new Map<string, string>();
  for (const person of of('person')) {
    const holder = person.studentNumber
      ? (numbers.get(person.studentNumber) ?? known.studentNumberHolder(person.studentNumber))
      : undefined;
    const date = schoolKnown(person.school)
      ? dateProblem(person.transferDate, person.school, person.id)
      : undefined;
    if (!schoolKnown(person.school)) bad(person, person.id, `unknown school ${person.school}`);
    else if (holder !== undefined && holder !== person.id)
      bad(person, person.id, `student-status number ${person.studentNumber} is already person ${holder}'s`);
    else if (date) bad(person, person.id, date);
    else {
      persons.set(person.id, directoryPerson(person));
      if (person.studentNumber) numbers.set(person.studentNumber, person.id);
      good.push(person);
    }
  }
  const personOf = (id: string) => persons.get(id) ?? known.person(id);

  // A card id given for two people in one page: neither can be trusted.
  const cards = of('card');
  const owners = new Map<string, Set<string>>();
  for (const card of cards)
    owners.set(card.cardId, (owners.get(card.cardId) ?? new Set()).add(card.personId));
  const uids = new Map<string, FeedCard>();
  for (const card of cards) {
    const person = personOf(card.personId);
    const inPage = persons.get(card.personId);
    const school = card.school ?? person?.school ?? '';
    const held = known.card(card.cardId);
    const uid = card.credential.uid;
    const pageUid = uid === undefined ? undefined : uids.get(`${school}:${uid}`);
    const uidHeld = uid === undefined || !person ? undefined : known.uidHolder(school, uid);
    const others = [...(owners.get(card.cardId) ?? [])];
    if (others.length > 1)
      bad(card, card.cardId, `duplicate card: card id given for ${others.join(' and ')} in one page`);
    else if (!person) bad(card, card.cardId, `card for unknown person ${card.personId}`);
    else if (!schoolKnown(school)) bad(card, card.cardId, `unknown school ${school}`);
    else if (inPage && inPage.school !== school)
      bad(
        card,
        card.cardId,
        `card names school ${school}, but its person's record in this page names school ${inPage.school}`,
      );
    else if (held && held.personId !== card.personId)
      bad(card, card.cardId, `duplicate card: card id is already person ${held.personId}'s`);
    else if (dateProblem(card.transferDate, school, card.personId))
      bad(card, card.cardId, dateProblem(card.transferDate, school, card.personId) as string);
    else if (pageUid && pageUid.cardId !== card.cardId && pageUid.personId !== card.personId)
      bad(
        card,
        card.cardId,
        `duplicate card: UID ${maskCardId(uid ?? '')} is also card ${maskCardId(pageUid.cardId)}'s in this page`,
      );
    else if (uidHeld && uidHeld.cardId !== card.cardId && uidHeld.personId !== card.personId)
      bad(
        card,
        card.cardId,
        `duplicate card: UID ${maskCardId(uid ?? '')} is already card ${maskCardId(uidHeld.cardId)}'s`,
      );
    else {
      if (uid !== undefined) uids.set(`${school}:${uid}`, card);
      good.push(card);
    }
  }

  for (const leave of of('leave')) {
    if (!schoolKnown(leave.school)) bad(leave, leave.id, `unknown school ${leave.school}`);
    else if (!personOf(leave.personId)) bad(leave, leave.id, `leave for unknown person ${leave.personId}`);
    else good.push(leave);
  }
  // A revocation names a card of any district: nothing of it need be known here.
  good.push(...of('hotlist'));
  return { good, problems };
}

/** A record parsed, or the problem with it, named as well as a broken record allows. */
function parseRecord(record: unknown): ChangeRecord | FeedProblem {
  const result = ChangeRecord.safeParse(record);
  if (result.success) return result.data;
  const fields = (record && typeof record === 'object' ? record : {}) as Record<string, unknown>;
  const text = (value: unknown) => (typeof value === 'string' ? value.slice(0, 128) : undefined);
  const id = text(fields.id) ?? text(fields.cardId);
  return {
    changeId: text(fields.changeId) ?? '',
    kind: text(fields.kind)?.slice(0, 32) ?? 'unknown',
    ...(id ? { id } : {}),
    problem: describeIssues(result.error),
  };
}

/**
 * Pulls the central system's change feed page by page, on an interval and on demand. Each page is
 * checked as a whole; its good records go to the directory and, per school, to the roster as one
 * version (ChangeApplier), in one transaction with its problems and the cursor; its bad ones are
 * reported. Applying a page again changes nothing, so a pull cut short is harmless.
 */
export class FeedPuller {
  private running: Promise<PullResult> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private readonly sql;

  constructor(private readonly deps: FeedDeps) {
    const db = deps.store.database;
    this.sql = {
      addProblem: db.prepare(
        'INSERT INTO central_feed_problems (at, cursor, change_id, kind, record_id, problem) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      unreported: db.prepare<
        [],
        {
          id: number;
          cursor: string;
          change_id: string;
          kind: string;
          record_id: string | null;
          problem: string;
        }
      >('SELECT * FROM central_feed_problems WHERE reported = 0 ORDER BY id LIMIT 10000'),
      markReported: db.prepare('UPDATE central_feed_problems SET reported = 1 WHERE id <= ? AND cursor = ?'),
      count: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM central_feed_problems'),
      latest: db.prepare<
        [number],
        {
          at: string;
          cursor: string;
          change_id: string;
          kind: string;
          record_id: string | null;
          problem: string;
          reported: number;
        }
      >('SELECT * FROM central_feed_problems ORDER BY id DESC LIMIT ?'),
    };
  }

  start(): void {
    this.stopped = false;
    const tick = () => {
      this.pull()
        .catch(() => undefined)
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.deps.settings.intervalMs);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /**
   * Pulls until the feed has no more. A pull asked for while one runs starts after it, so that it sees
   * every change made before it was asked for.
   */
  pull(): Promise<PullResult> {
    const run = (this.running ?? Promise.resolve()).catch(() => undefined).then(() => this.pullAll());
    this.running = run;
    return run;
  }

  private async pullAll(): Promise<PullResult> {
    const { state, client, settings, logger } = this.deps;
    const result: PullResult = { pages: 0, applied: 0, problems: 0 };
    try {
      await this.reportUnreported();
      for (;;) {
        const since = state.get('feed.cursor') ?? '';
        const raw = await client.get(
          `/v1/changes?since=${encodeURIComponent(since)}&limit=${settings.pageSize}`,
        );
        const page = ChangePage.safeParse(raw);
        if (!page.success)
          throw new Error(`the change feed page is not the contract's: ${describeIssues(page.error)}`);
        const applied = await this.applyPage(page.data);
        result.pages += 1;
        result.applied += applied.applied;
        result.problems += applied.problems.length;
        result.cursor = page.data.cursor;
        if (!page.data.hasMore || this.stopped) break;
      }
      state.set('feed.lastPullAt', new Date().toISOString());
      state.set('feed.lastError', undefined);
      return result;
    } catch (error) {
      const message = (error as Error).message;
      logFailure(logger, { err: error, reason: message }, 'change feed pull failed', 'warn');
      try {
        state.set('feed.lastError', message);
      } catch {
        // The store unreachable, as it is when the pull failed for it: the line above says why.
      }
      throw error;
    }
  }

  /** Applies one page (see the class comment); public for tests of a page on its own. */
  async applyPage(page: ChangePage): Promise<PageResult> {
    const { store, directory, applier, state, logger } = this.deps;
    const { good, problems } = checkPage(page.records, {
      school: (id) => directory.school(id) !== undefined,
      person: (id) => directory.person(id),
      studentNumberHolder: (number) => directory.personByStudentNumber(number)?.id,
      card: (cardId) => store.findCard(cardId),
      uidHolder: (school, uid) => store.rosterCards(school).find((c) => c.credential.uid === uid),
      today: (school) => applier.today(school),
      lastTransferDate: (personId) => applier.lastTransferDate(personId),
    });
    // Before the cursor moves: a stop in between pulls the page again, and a revocation taken twice is one.
    const revocations = good.flatMap((r) =>
      r.kind === 'hotlist' ? [{ cardId: r.cardId, status: r.status }] : [],
    );
    if (revocations.length > 0) await this.deps.hotlist?.applyCentral(revocations);
    // Also before the cursor moves, so a stop in between removes them when the page comes again
    // (a removal taken twice is one: Leavers.remove).
    for (const record of good)
      if (record.kind === 'person' && !record.active) await this.deps.onLeft?.(record.id);
    const now = new Date().toISOString();
    const applied = await applier.apply(good, {
      source: 'feed',
      actor: 'central',
      // The page's problems and the cursor move with what it changed, in the same transaction.
      alongside: () => {
        for (const problem of problems)
          this.sql.addProblem.run(
            now,
            page.cursor,
            problem.changeId,
            problem.kind,
            problem.id ?? null,
            problem.problem,
          );
        state.set('feed.cursor', page.cursor);
      },
    });
    for (const problem of problems)
      logger.warn(
        { change: problem.changeId, kind: problem.kind, problem: problem.problem },
        'change feed record refused',
      );
    if (applied.versions.length)
      logger.info({ cursor: page.cursor, versions: applied.versions }, 'change feed applied to the rosters');
    await this.reportUnreported();
    return {
      applied: good.length,
      problems,
      versions: applied.versions,
      transfers: applied.transfers.map((t) => t.id),
    };
  }

  /** Sends the problems not yet reported, page by page; a failure leaves them for the next pull. */
  private async reportUnreported(): Promise<void> {
    const rows = this.sql.unreported.all();
    const byCursor = new Map<string, typeof rows>();
    for (const row of rows) byCursor.set(row.cursor, [...(byCursor.get(row.cursor) ?? []), row]);
    for (const [cursor, problems] of byCursor) {
      try {
        await this.deps.client.post('/v1/changes/reports', {
          cursor,
          problems: problems.map((p) => ({
            changeId: p.change_id,
            kind: p.kind,
            ...(p.record_id ? { id: p.record_id } : {}),
            problem: p.problem,
          })),
        });
        this.sql.markReported.run((problems.at(-1) as { id: number }).id, cursor);
      } catch (error) {
        this.deps.logger.warn(
          { reason: (error as Error).message },
          'feed problems not reported yet: will try again',
        );
        return;
      }
    }
  }

  status(latest = 20): FeedStatus {
    const { state } = this.deps;
    const cursor = state.get('feed.cursor');
    const lastPullAt = state.get('feed.lastPullAt');
    const lastError = state.get('feed.lastError');
    return {
      ...(cursor ? { cursor } : {}),
      ...(lastPullAt ? { lastPullAt } : {}),
      ...(lastError ? { lastError } : {}),
      problems: this.sql.count.get()?.n ?? 0,
      latestProblems: this.sql.latest.all(latest).map((p) => ({
        at: p.at,
        cursor: p.cursor,
        changeId: p.change_id,
        kind: p.kind,
        ...(p.record_id ? { id: p.record_id } : {}),
        problem: p.problem,
        reported: p.reported === 1,
      })),
    };
  }
}
