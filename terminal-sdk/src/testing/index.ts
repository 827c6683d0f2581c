import {
  type CardProof,
  cardAuthMessage,
  issueCardCertificate,
  parseCardCertificate,
} from '../card-profile/edu-card.js';
import type {
  Calendar,
  CardEntry,
  KeyRole,
  RosterChange,
  RosterDelta,
  RosterSnapshot,
  RosterVariant,
  Schedule,
} from '../contract/roster.js';
import { type IssuedRoster, issueKeySet, issueRoster, keyRole } from '../contract/roster-issuer.js';
import { type Ed25519KeyPair, generateKeyPair, nativeEd25519 } from '../crypto/ed25519.js';
import { toBase64Url } from '../crypto/encoding.js';
import { encodeHotlist, type HotlistChange, hotlistEntries } from '../hotlist/format.js';
import { type IssuedHotlist, issueHotlist } from '../hotlist/issue.js';
import { rosterVariantBody } from '../roster-variant/index.js';
import { localDate, wallClock } from '../wall-clock/index.js';

/**
 * A roster authority for tests, demos and benchmarks: the part of the central side that holds the
 * root and roster keys and signs what gateways load. Shipped (like a mock serial port) so that a
 * gateway can be run end to end without a bridge.
 */
export class TestAuthority {
  readonly root: Ed25519KeyPair[];
  rosterKeys: Ed25519KeyPair[];
  /** The card issuers the key set names (its `cardIssuers` role); none by default. */
  cardIssuers: Ed25519KeyPair[];
  /** The keys of the key set's `commands` role, when the authority is made with some. */
  commandKeys: Ed25519KeyPair[] | undefined;
  /** The keys of the key set's `releases` role, when the authority is made with some. */
  releaseKeys: Ed25519KeyPair[] | undefined;
  keySetVersion = 1;

  /** The clock every date it signs is derived from: a test's own clock, or the real one. */
  readonly now: () => number;

  constructor(
    readonly school: string,
    options: {
      root?: Ed25519KeyPair[];
      roster?: Ed25519KeyPair[];
      cardIssuers?: Ed25519KeyPair[];
      commands?: Ed25519KeyPair[];
      releases?: Ed25519KeyPair[];
      now?: () => number;
    } = {},
  ) {
    this.root = options.root ?? [generateKeyPair()];
    this.rosterKeys = options.roster ?? [generateKeyPair()];
    this.cardIssuers = options.cardIssuers ?? [];
    this.commandKeys = options.commands;
    this.releaseKeys = options.releases;
    this.now = options.now ?? Date.now;
  }

  /** The root role a device pins at provisioning. */
  anchor(): KeyRole {
    return keyRole(this.root);
  }

  keySet(): Uint8Array {
    return issueKeySet({
      version: this.keySetVersion,
      root: keyRole(this.root),
      roster: keyRole(this.rosterKeys),
      ...(this.cardIssuers.length ? { cardIssuers: keyRole(this.cardIssuers) } : {}),
      ...(this.commandKeys ? { commands: keyRole(this.commandKeys) } : {}),
      ...(this.releaseKeys ? { releases: keyRole(this.releaseKeys) } : {}),
      signers: this.root,
    });
  }

  /** Moves to a new roster key: the next key set, signed by the root, names only the new key. */
  rotateRosterKey(next: Ed25519KeyPair = generateKeyPair()): Uint8Array {
    this.rosterKeys = [next];
    this.keySetVersion += 1;
    return this.keySet();
  }

  /** Names other card issuers (adds, drops or replaces them): the next key set, signed by the root. */
  rotateCardIssuers(next: Ed25519KeyPair[]): Uint8Array {
    this.cardIssuers = next;
    this.keySetVersion += 1;
    return this.keySet();
  }

  /** Moves to a new command key the same way: the next key set names only the new one. */
  rotateCommandKey(next: Ed25519KeyPair = generateKeyPair()): Uint8Array {
    this.commandKeys = [next];
    this.keySetVersion += 1;
    return this.keySet();
  }

  snapshot(
    version: number,
    cards: CardEntry[],
    options: {
      expiresAt?: string;
      issuedAt?: string;
      calendar?: Calendar;
      schedules?: Schedule[];
      devices?: string[];
      signers?: Ed25519KeyPair[];
      variant?: RosterVariant;
    } = {},
  ): IssuedRoster {
    const body: RosterSnapshot = {
      kind: 'snapshot',
      school: this.school,
      version,
      issuedAt: options.issuedAt ?? new Date(this.now() - 60_000).toISOString(),
      calendar: options.calendar ?? sampleCalendar(this.now()),
      schedules: options.schedules ?? SAMPLE_SCHEDULES,
      cards,
    };
    return this.sign(body, options);
  }

  delta(
    fromVersion: number,
    version: number,
    changes: RosterChange[],
    options: {
      expiresAt?: string;
      issuedAt?: string;
      signers?: Ed25519KeyPair[];
      variant?: RosterVariant;
    } = {},
  ): IssuedRoster {
    const body: RosterDelta = {
      kind: 'delta',
      school: this.school,
      fromVersion,
      version,
      issuedAt: options.issuedAt ?? new Date(this.now() - 60_000).toISOString(),
      changes,
    };
    return this.sign(body, options);
  }

  /**
   * A hotlist of revoked cards, signed by the roster keys: a snapshot, or with `fromVersion` a delta
   * (where `removed` takes a card off). Its hash key is {@link SAMPLE_HOTLIST_KEY} unless given.
   */
  hotlist(
    version: number,
    cards: { cardNumber: string; status: HotlistChange }[],
    options: {
      fromVersion?: number;
      hashKey?: Buffer;
      issuedAt?: string;
      expiresAt?: string;
      signers?: Ed25519KeyPair[];
    } = {},
  ): IssuedHotlist {
    const hashKey = options.hashKey ?? SAMPLE_HOTLIST_KEY;
    const kind = options.fromVersion === undefined ? 'snapshot' : 'delta';
    const body = encodeHotlist(
      { kind, version, hashKey, ...(options.fromVersion ? { fromVersion: options.fromVersion } : {}) },
      hotlistEntries(hashKey, cards),
    );
    return issueHotlist(body, {
      issuedAt: options.issuedAt ?? new Date(this.now() - 60_000).toISOString(),
      expiresAt: options.expiresAt ?? new Date(this.now() + 2 * DAY_MS).toISOString(),
      keySetVersion: this.keySetVersion,
      signers: options.signers ?? this.rosterKeys,
    });
  }

  /**
   * Signs the body whole or, with `variant`, as that station type's variant (the gate's: no names,
   * UIDs hashed under {@link SAMPLE_UID_KEY}, person ids pseudonyms under {@link SAMPLE_PERSON_KEY}), as
   * the bridge issues it.
   */
  private sign(
    whole: RosterSnapshot | RosterDelta,
    options: { expiresAt?: string; devices?: string[]; signers?: Ed25519KeyPair[]; variant?: RosterVariant },
  ): IssuedRoster {
    const body = options.variant ? rosterVariantBody(whole, options.variant, SAMPLE_GATE_KEYS) : whole;
    return issueRoster(body, {
      ...(options.variant ? { variant: options.variant } : {}),
      expiresAt: options.expiresAt ?? new Date(this.now() + 7 * DAY_MS).toISOString(),
      keySetVersion: this.keySetVersion,
      signers: options.signers ?? this.rosterKeys,
      ...(options.devices ? { devices: options.devices } : {}),
    });
  }
}

const DAY_MS = 86_400_000;

/** The hash key of the test authority's hotlists (docs/hotlist.md): fixed, so lists agree across processes. */
export const SAMPLE_HOTLIST_KEY = Buffer.alloc(16, 0x4b);
/** School time of the sample fixtures: China Standard Time, which keeps no summer time. */
const SCHOOL_OFFSET = '+08:00';
const SCHOOL_OFFSET_MS = 8 * 3_600_000;

/**
 * The instant the sample fixtures' absolute dates are written around: Monday 23 November 2026, 08:00
 * school time. A test that sets its clock uses it (or another time of the 2026-27 school year) with
 * {@link sampleCard}'s and {@link SAMPLE_CALENDAR}'s dates; a test on the real clock derives its dates
 * from `Date.now()` instead, with {@link validAround} and {@link sampleCalendar}.
 */
export const SAMPLE_MONDAY = Date.parse(`2026-11-23T08:00:00${SCHOOL_OFFSET}`);

/** The school year (1 September to 31 August, school time) that holds `at`: its first and last day. */
export function schoolYearOf(at: number): { first: string; last: string } {
  const local = new Date(at + SCHOOL_OFFSET_MS);
  const year = local.getUTCMonth() >= 8 ? local.getUTCFullYear() : local.getUTCFullYear() - 1;
  return { first: `${year}-09-01`, last: `${year + 1}-08-31` };
}

/** A card valid for the whole school year that holds `at`. */
export function validForSchoolYear(at: number): Pick<CardEntry, 'validFrom' | 'validUntil'> {
  const { first, last } = schoolYearOf(at);
  return { validFrom: `${first}T00:00:00${SCHOOL_OFFSET}`, validUntil: `${last}T23:59:59${SCHOOL_OFFSET}` };
}

/**
 * A card valid from a year before `now` to a year after: for tests on the real clock, where a school
 * year's end could fall inside the run.
 */
export function validAround(now: number): Pick<CardEntry, 'validFrom' | 'validUntil'> {
  return {
    validFrom: new Date(now - 365 * DAY_MS).toISOString(),
    validUntil: new Date(now + 365 * DAY_MS).toISOString(),
  };
}

/**
 * The sample school's calendar for the school year that holds `at`: National Day off, New Year's Eve
 * off, and the Sunday before National Day taught as a Monday.
 */
export function sampleCalendar(at: number): Calendar {
  const { first } = schoolYearOf(at);
  const year = Number(first.slice(0, 4));
  return {
    timeZone: 'Asia/Shanghai',
    holidays: [`${year}-10-01`, `${year}-10-02`, `${year}-12-31`],
    closures: [],
    makeUpDays: [{ date: sundayBefore(`${year}-10-01`), as: 1 }],
  };
}

function sundayBefore(date: string): string {
  const day = new Date(`${date}T00:00:00Z`);
  const back = day.getUTCDay() === 0 ? 7 : day.getUTCDay();
  return new Date(day.getTime() - back * DAY_MS).toISOString().slice(0, 10);
}

/**
 * A calendar in `timeZone` with no day off in which the date of `at` (the real clock by default) is a
 * school day whatever weekday it is (a weekend made a make-up day): for tests and benchmarks on the
 * real clock that must see a school day on any day they run.
 */
export function calendarWithSchoolToday(timeZone: string, at = Date.now()): Calendar {
  const today = localDate(at, timeZone);
  return {
    timeZone,
    holidays: [],
    closures: [],
    makeUpDays: wallClock(at, timeZone).weekday > 5 ? [{ date: today, as: 1 }] : [],
  };
}

/** The calendar of the sample fixtures' school year, 2026-27 (see {@link SAMPLE_MONDAY}). */
export const SAMPLE_CALENDAR: Calendar = sampleCalendar(SAMPLE_MONDAY);

export const SAMPLE_SCHEDULES: Schedule[] = [
  { id: 'school-day', windows: [{ days: [1, 2, 3, 4, 5], start: '06:30', end: '18:30' }], onHolidays: false },
  {
    id: 'boarding-night',
    windows: [{ days: [1, 2, 3, 4, 5, 7], start: '18:30', end: '07:30' }],
    onHolidays: false,
  },
  {
    id: 'caretaker',
    windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '00:00', end: '24:00' }],
    onHolidays: true,
  },
];

/** A uid of `bytes` bytes derived from a number, so test cards are stable across runs. */
export function sampleUid(n: number, bytes = 7): string {
  return n
    .toString(16)
    .toUpperCase()
    .padStart(bytes * 2, '0')
    .slice(-bytes * 2);
}

/** The uid key of the sample school's gate rosters (see hashUid). */
export const SAMPLE_UID_KEY = new Uint8Array(32).fill(0x5a);
/** The person key of the sample school's gate rosters (see personPseudonym). */
export const SAMPLE_PERSON_KEY = new Uint8Array(32).fill(0xa5);
export const SAMPLE_GATE_KEYS = { uidKey: SAMPLE_UID_KEY, personKey: SAMPLE_PERSON_KEY };

const SURNAMES = ['Wang', 'Li', 'Zhang', 'Liu', 'Chen', 'Yang', 'Huang', 'Zhao', 'Wu', 'Zhou'];
const GIVEN = ['Wei', 'Fang', 'Min', 'Jing', 'Lei', 'Yan', 'Tao', 'Xin', 'Hui', 'Bo'];

/**
 * A student card for the main gate, valid in the sample school year 2026-27 (see {@link SAMPLE_MONDAY});
 * `overrides` change any field, e.g. `validAround(Date.now())` for a test on the real clock. A CPU
 * card's public key is derived from a seed made from `n`, see {@link sampleCardSeed}.
 */
export function sampleCard(n: number, overrides: Partial<CardEntry> = {}, school = 'school-1'): CardEntry {
  return {
    cardId: `E${String(n).padStart(9, '0')}`,
    credential: { kind: 'uid', uid: sampleUid(n) },
    personId: `p${String(n).padStart(7, '0')}`,
    role: 'student',
    school,
    grade: String(1 + (n % 6)),
    class: String(1 + (n % 8)),
    status: 'active',
    ...validForSchoolYear(SAMPLE_MONDAY),
    zones: ['main-gate', 'library'],
    schedules: ['school-day'],
    displayName: `${SURNAMES[n % 10]} ${GIVEN[Math.floor(n / 10) % 10]}`,
    ...overrides,
  };
}

export function sampleCardSeed(n: number): Uint8Array {
  const seed = new Uint8Array(32);
  new DataView(seed.buffer).setUint32(0, n + 1);
  seed[31] = 0xed;
  return seed;
}

/** An EDU CPU card bound to the key made from {@link sampleCardSeed}. */
export function sampleCpuCard(n: number, overrides: Partial<CardEntry> = {}, school = 'school-1'): CardEntry {
  const publicKey = toBase64Url(nativeEd25519.keyPairFromSeed(sampleCardSeed(n)).publicKey);
  return sampleCard(
    n,
    { credential: { kind: 'edu-cpu', publicKey, uid: sampleUid(n) }, ...overrides },
    school,
  );
}

/** The card issuer of the sample cards: a fixed key, so certificates agree across processes. */
export const SAMPLE_CARD_ISSUER = nativeEd25519.keyPairFromSeed(new Uint8Array(32).fill(0x1c));
/**
 * A second card issuer (another city's card centre), for the cards of a second school: a venue that
 * admits the cards of both names both in its key set's `cardIssuers`.
 */
export const SAMPLE_CARD_ISSUER_B = nativeEd25519.keyPairFromSeed(new Uint8Array(32).fill(0x1d));

/**
 * What the applet of sample CPU card `n` holds: its number, its key and its certificate, valid for five
 * school years from the one that holds `at` (the sample year unless a test on the real clock says now),
 * signed by `issuer`.
 */
export function sampleEduApplet(
  n: number,
  at: number = SAMPLE_MONDAY,
  issuer: Ed25519KeyPair = SAMPLE_CARD_ISSUER,
): {
  cardNumber: string;
  seed: Uint8Array;
  certificate: Uint8Array;
} {
  const seed = sampleCardSeed(n);
  const cardNumber = sampleCard(n).cardId;
  return {
    cardNumber,
    seed,
    certificate: issueCardCertificate({
      cardNumber,
      publicKey: nativeEd25519.keyPairFromSeed(seed).publicKey,
      issuer,
      ...certificateValidity(at),
    }),
  };
}
/**
 * What sample CPU card `n` proves at a tap, as the card profile hands it over: its number, its
 * certificate (issued as {@link sampleEduApplet} issues it) and its signature over `challenge`.
 */
export function sampleCardProof(
  n: number,
  options: { at?: number; issuer?: Ed25519KeyPair; challenge?: Uint8Array } = {},
): CardProof {
  const applet = sampleEduApplet(n, options.at, options.issuer);
  const challenge = options.challenge ?? new Uint8Array(16).fill(n % 251);
  return {
    cardNumber: applet.cardNumber,
    challenge,
    signature: nativeEd25519.sign(cardAuthMessage(challenge, applet.cardNumber), applet.seed),
    certificate: parseCardCertificate(applet.certificate),
  };
}

/** A card certificate's dates: from the first day of the school year that holds `at`, for five years. */
export function certificateValidity(at: number): { notBefore: string; notAfter: string } {
  const { first, last } = schoolYearOf(at);
  return { notBefore: first, notAfter: `${Number(last.slice(0, 4)) + 4}${last.slice(4)}` };
}

export { chainRecords, gateDecisionData, type RecordBody } from './records.js';
