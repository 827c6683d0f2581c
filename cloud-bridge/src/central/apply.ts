import { type CardEntry, CardEntry as CardEntrySchema, maskCardId } from '@educard/terminal-sdk';
import type { Logger } from 'pino';
import type { Directory, DirectoryPerson } from '../directory/index.js';
import { RosterChangeRefused, type RosterService, type SchoolChanges } from '../roster/index.js';
import type { BridgeStore } from '../store/index.js';
import {
  type Transfer,
  type TransferLog,
  type TransferRequest,
  transferDateProblem,
} from '../transfers/index.js';
import { type ChangeRecord, type FeedCard, type FeedPerson, leaveOf } from './contract.js';

/** A school's local calendar, for the dates of transfers. */
export interface SchoolDays {
  /** The school's date now (YYYY-MM-DD). */
  today(school: string): string;
  /** The instant (ms) a date begins at the school. */
  startOfDay(school: string, date: string): number;
}

export interface ChangeApplierDeps {
  store: BridgeStore;
  directory: Directory;
  roster: RosterService;
  transfers: TransferLog;
  days: SchoolDays;
  logger: Logger;
  now?: () => number;
}

export interface ApplyOptions {
  source: Transfer['source'];
  /** `central` for the change feed, else who asked. */
  actor: string;
  /**
   * Persons the directory does not hold (a district without a change feed knows them by their roster
   * cards only): their records build their cards but are not written to the directory.
   */
  rosterOnly?: string[];
  /** The caller's own writes (the feed's problems and cursor), in the same transaction. */
  alongside?: () => void;
}

export interface Applied {
  /** The roster version each school's changes went out as. */
  versions: { school: string; version: number }[];
  transfers: Transfer[];
}

export const directoryPerson = ({
  kind: _k,
  changeId: _c,
  transferDate: _t,
  ...person
}: FeedPerson): DirectoryPerson => person;

/** The roster entry of a card record: the card as the feed gives it, and who it is from its person. */
export function cardEntryOf(card: Omit<FeedCard, 'kind' | 'changeId'>, person: DirectoryPerson): CardEntry {
  return CardEntrySchema.parse({
    cardId: card.cardId,
    credential: card.credential,
    personId: card.personId,
    role: person.role,
    school: person.school,
    ...(person.grade !== undefined ? { grade: person.grade } : {}),
    ...(person.class !== undefined ? { class: person.class } : {}),
    status: card.status,
    validFrom: card.validFrom,
    validUntil: card.validUntil,
    zones: card.zones,
    schedules: card.schedules,
    displayName: person.name,
  });
}

/** A person as a roster card gives them, for a district whose directory does not hold them. */
function personOfCard(card: CardEntry): DirectoryPerson {
  return {
    id: card.personId,
    school: card.school,
    role: card.role,
    name: card.displayName ?? card.personId,
    ...(card.class !== undefined ? { class: card.class } : {}),
    ...(card.grade !== undefined ? { grade: card.grade } : {}),
    active: true,
  };
}

/** The cards a person holds where they are (not those a school they left keeps). */
const heldBy = (cards: CardEntry[]) => cards.filter((card) => card.statusReason !== 'transferred');

/** A card as the roster of a school its holder left keeps it: cancelled, because it went with them. */
const leftBehind = (card: CardEntry): CardEntry => ({
  ...card,
  status: 'cancelled',
  statusReason: 'transferred',
});

/** A transfer about to be written: the log's record less what the commit gives it. */
type PlannedTransfer = Omit<Transfer, 'id' | 'versions' | 'at'>;

/**
 * Applies records of the central system (checked already: see checkPage) to the directory and the
 * rosters as ONE change: the directory's writes, each school's new roster version, the transfers and
 * the caller's own writes in one transaction, then the versions published. A person the records move
 * to another school is a transfer, however the records say it (their person record, a card record
 * naming the new school, or both): their cards leave the old school's roster (cancelled as
 * transferred, so its gates deny them by name) and join the new school's. Applying the same records
 * again changes nothing and publishes nothing.
 */
export class ChangeApplier {
  private readonly now: () => number;

  constructor(private readonly deps: ChangeApplierDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The school's date now: a transfer's date may not be later. */
  today(school: string): string {
    return this.deps.days.today(school);
  }

  /** The date of the person's latest transfer: a new one may not be earlier. */
  lastTransferDate(personId: string): string | undefined {
    return this.deps.transfers.ofPerson(personId).at(-1)?.on;
  }

  async apply(good: ChangeRecord[], options: ApplyOptions): Promise<Applied> {
    const { directory, roster, transfers, logger } = this.deps;
    const after = this.personsAfter(good);
    const rosterOnly = new Set(options.rosterOnly);
    const before = new Map(
      [...after.keys()].map((id) => [
        id,
        directory.person(id) ??
          (rosterOnly.has(id) ? heldBy(this.deps.store.personCards(id)).map(personOfCard)[0] : undefined),
      ]),
    );
    const { schools, moved } = this.rosterChanges(good, after);
    const planned = this.plannedTransfers(good, before, after, moved, options);
    const at = new Date(this.now()).toISOString();
    const made: Transfer[] = [];
    const versions = await roster.applyChanges(schools, (published) => {
      for (const record of good) {
        if (record.kind === 'school') {
          const { kind: _k, changeId: _c, calendar: _cal, ...school } = record;
          directory.putSchool(school);
        } else if (record.kind === 'class') {
          const { kind: _k, changeId: _c, ...entry } = record;
          directory.putClass(entry);
        } else if (record.kind === 'leave') directory.putLeave(leaveOf(record));
      }
      for (const person of after.values()) if (!rosterOnly.has(person.id)) directory.putPerson(person);
      for (const transfer of planned) {
        const carried = [transfer.from, transfer.to].flatMap((school) =>
          published.filter((v) => v.school === school),
        );
        const full = { ...transfer, at, versions: carried };
        made.push({ id: transfers.record(full), ...full });
      }
      options.alongside?.();
    });
    for (const transfer of made)
      logger.info(
        {
          person: transfer.personId,
          from: transfer.from,
          to: transfer.to,
          on: transfer.on,
          cards: transfer.cards.map(maskCardId),
          versions: transfer.versions,
          source: transfer.source,
          actor: transfer.actor,
        },
        'person transferred',
      );
    return { versions, transfers: made };
  }

  /**
   * A transfer asked for without the change feed, made the way the feed's would be: the person's
   * record with the new school (and class, if given). A district without a feed knows the person by
   * their roster cards only: the directory is left as it is. A person the directory has at the new
   * school already, whose cards a school they left still holds as theirs (what a feed's person record
   * left behind before transfers were applied whole), has those cards moved.
   */
  async transfer(request: TransferRequest): Promise<Transfer> {
    const { directory, store } = this.deps;
    const { personId, to } = request;
    const cards = heldBy(store.personCards(personId));
    const listed = directory.person(personId);
    const person = listed ?? cards.map(personOfCard)[0];
    if (!person)
      throw new RosterChangeRefused(404, `no person ${personId} in the directory nor on any roster`);
    if (!directory.school(to) && !store.rosterSchools().includes(to))
      throw new RosterChangeRefused(404, `no school ${to}`);
    if (person.school === to && cards.every((card) => card.school === to))
      throw new RosterChangeRefused(409, `person ${personId} is at school ${to} already`);
    const on = request.on ?? this.today(to);
    const problem = transferDateProblem(on, to, this.today(to), this.lastTransferDate(personId));
    if (problem) throw new RosterChangeRefused(400, problem);
    const classes = directory.classes(to);
    if (request.class !== undefined && classes.length && !classes.some((c) => c.id === request.class))
      throw new RosterChangeRefused(400, `no class ${request.class} at school ${to}`);
    // A class is the school's: the old one does not follow the person.
    const { class: held, ...rest } = person;
    const className = request.class ?? (person.school === to ? held : undefined);
    const moving: FeedPerson = {
      kind: 'person',
      changeId: '',
      ...rest,
      school: to,
      ...(className !== undefined ? { class: className } : {}),
      transferDate: on,
    };
    const applied = await this.apply([moving], {
      source: 'api',
      actor: request.actor,
      ...(listed ? {} : { rosterOnly: [personId] }),
    });
    const made = applied.transfers[0];
    if (!made) throw new RosterChangeRefused(409, `person ${personId} did not move`);
    return made;
  }

  /**
   * Each person the records change, as they will be: a person record as it is; a card record that
   * names another school than its person's moves the person there, without their old class.
   */
  private personsAfter(good: ChangeRecord[]): Map<string, DirectoryPerson> {
    const after = new Map<string, DirectoryPerson>();
    for (const record of good) if (record.kind === 'person') after.set(record.id, directoryPerson(record));
    for (const record of good) {
      if (record.kind !== 'card' || record.school === undefined || after.has(record.personId)) continue;
      const held = this.deps.directory.person(record.personId);
      if (held && held.school !== record.school) {
        const { class: _class, ...person } = held;
        after.set(record.personId, { ...person, school: record.school });
      }
    }
    return after;
  }

  /**
   * Per school, the cards whose roster entry changes, and the school's calendar: each card record, and
   * the cards already held by the persons the records change (a new class or name reaches the gates
   * too). A card held by another school than the one it now belongs on leaves that school's roster:
   * `moved` says, per person, which cards left which school.
   */
  private rosterChanges(
    good: ChangeRecord[],
    after: Map<string, DirectoryPerson>,
  ): { schools: SchoolChanges[]; moved: Map<string, { from: string; cards: string[] }> } {
    const { store, directory } = this.deps;
    const bySchool = new Map<string, SchoolChanges & { byId: Map<string, CardEntry> }>();
    const at = (school: string) => {
      let entry = bySchool.get(school);
      if (!entry) {
        entry = { school, cards: [], byId: new Map() };
        bySchool.set(school, entry);
      }
      return entry;
    };
    const put = (card: CardEntry) => at(card.school).byId.set(card.cardId, card);
    const moved = new Map<string, { from: string; cards: string[] }>();
    const place = (card: CardEntry, held: CardEntry | undefined) => {
      put(card);
      if (!held || held.school === card.school) return;
      put(leftBehind(held));
      const move = moved.get(card.personId) ?? { from: held.school, cards: [] };
      if (!move.cards.includes(card.cardId)) move.cards.push(card.cardId);
      moved.set(card.personId, move);
    };

    for (const record of good)
      if (record.kind === 'school' && record.calendar) at(record.id).settings = { calendar: record.calendar };
    for (const [personId, person] of after)
      for (const held of heldBy(store.personCards(personId))) place(cardEntryOf(held, person), held);
    for (const record of good) {
      if (record.kind !== 'card') continue;
      const person = after.get(record.personId) ?? (directory.person(record.personId) as DirectoryPerson);
      place(cardEntryOf(record, person), store.findCard(record.cardId));
    }
    const schools = [...bySchool.values()].map(({ byId, ...entry }) => ({
      ...entry,
      cards: [...byId.values()],
    }));
    return { schools, moved };
  }

  /** A transfer for each person the records move to another school, or whose cards they move. */
  private plannedTransfers(
    good: ChangeRecord[],
    before: Map<string, DirectoryPerson | undefined>,
    after: Map<string, DirectoryPerson>,
    moved: Map<string, { from: string; cards: string[] }>,
    options: ApplyOptions,
  ): PlannedTransfer[] {
    const planned: PlannedTransfer[] = [];
    // A card record alone may move a card its person's school no longer holds them at (a transfer a
    // bridge before this one applied half): that is a transfer too.
    for (const personId of new Set([...after.keys(), ...moved.keys()])) {
      const person = after.get(personId) ?? this.deps.directory.person(personId);
      if (!person) continue;
      const was = before.get(personId) ?? (after.has(personId) ? undefined : person);
      const cards = moved.get(personId);
      const from = was && was.school !== person.school ? was.school : cards?.from;
      if (from === undefined || from === person.school) continue;
      const records = good.filter(
        (r): r is Extract<ChangeRecord, { kind: 'person' | 'card' }> =>
          (r.kind === 'person' && r.id === personId) || (r.kind === 'card' && r.personId === personId),
      );
      const on = records.map((r) => r.transferDate).find((date) => date !== undefined);
      planned.push(
        this.transferOf(personId, from, person, was, cards?.cards ?? [], on, options, records[0]?.changeId),
      );
    }
    return planned;
  }

  private transferOf(
    personId: string,
    from: string,
    person: DirectoryPerson,
    was: DirectoryPerson | undefined,
    cards: string[],
    on: string | undefined,
    options: ApplyOptions,
    changeId: string | undefined,
  ): PlannedTransfer {
    const { days } = this.deps;
    const now = this.now();
    const today = days.today(person.school);
    const date = on ?? today;
    const effectiveAt = date < today ? days.startOfDay(person.school, date) : now;
    return {
      personId,
      from,
      to: person.school,
      on: date,
      effectiveAt: new Date(effectiveAt).toISOString(),
      source: options.source,
      actor: options.actor,
      ...(changeId ? { changeId } : {}),
      cards,
      before: was ?? { ...person, school: from },
    };
  }
}
