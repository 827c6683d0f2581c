import { issueCardCertificate } from '../card-profile/edu-card.js';
import type {
  Calendar,
  CardEntry,
  KeyRole,
  RosterChange,
  RosterDelta,
  RosterSnapshot,
  Schedule,
} from '../contract/roster.js';
import { type IssuedRoster, issueKeySet, issueRoster, keyRole } from '../contract/roster-issuer.js';
import { type Ed25519KeyPair, generateKeyPair, nativeEd25519 } from '../crypto/ed25519.js';
import { toBase64Url } from '../crypto/encoding.js';

/**
 * A roster authority for tests, demos and benchmarks: the part of the central side that holds the
 * root and roster keys and signs what gateways load. Shipped (like a mock serial port) so that a
 * gateway can be run end to end without a bridge.
 */
export class TestAuthority {
  readonly root: Ed25519KeyPair[];
  rosterKeys: Ed25519KeyPair[];
  /** The keys of the key set's `commands` role, when the authority is made with some. */
  commandKeys: Ed25519KeyPair[] | undefined;
  keySetVersion = 1;

  constructor(
    readonly school: string,
    keys: { root?: Ed25519KeyPair[]; roster?: Ed25519KeyPair[]; commands?: Ed25519KeyPair[] } = {},
  ) {
    this.root = keys.root ?? [generateKeyPair()];
    this.rosterKeys = keys.roster ?? [generateKeyPair()];
    this.commandKeys = keys.commands;
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
      ...(this.commandKeys ? { commands: keyRole(this.commandKeys) } : {}),
      signers: this.root,
    });
  }

  /** Moves to a new roster key: the next key set, signed by the root, names only the new key. */
  rotateRosterKey(next: Ed25519KeyPair = generateKeyPair()): Uint8Array {
    this.rosterKeys = [next];
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
    } = {},
  ): IssuedRoster {
    const body: RosterSnapshot = {
      kind: 'snapshot',
      school: this.school,
      version,
      issuedAt: options.issuedAt ?? new Date(Date.now() - 60_000).toISOString(),
      calendar: options.calendar ?? SAMPLE_CALENDAR,
      schedules: options.schedules ?? SAMPLE_SCHEDULES,
      cards,
    };
    return this.sign(body, options);
  }

  delta(
    fromVersion: number,
    version: number,
    changes: RosterChange[],
    options: { expiresAt?: string; issuedAt?: string; signers?: Ed25519KeyPair[] } = {},
  ): IssuedRoster {
    const body: RosterDelta = {
      kind: 'delta',
      school: this.school,
      fromVersion,
      version,
      issuedAt: options.issuedAt ?? new Date(Date.now() - 60_000).toISOString(),
      changes,
    };
    return this.sign(body, options);
  }

  private sign(
    body: RosterSnapshot | RosterDelta,
    options: { expiresAt?: string; devices?: string[]; signers?: Ed25519KeyPair[] },
  ): IssuedRoster {
    return issueRoster(body, {
      expiresAt: options.expiresAt ?? new Date(Date.now() + 7 * 86_400_000).toISOString(),
      keySetVersion: this.keySetVersion,
      signers: options.signers ?? this.rosterKeys,
      ...(options.devices ? { devices: options.devices } : {}),
    });
  }
}

export const SAMPLE_CALENDAR: Calendar = {
  timeZone: 'Asia/Shanghai',
  holidays: ['2026-10-01', '2026-10-02', '2026-12-31'],
  closures: [],
  makeUpDays: [{ date: '2026-09-27', as: 1 }],
};

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

const SURNAMES = ['Wang', 'Li', 'Zhang', 'Liu', 'Chen', 'Yang', 'Huang', 'Zhao', 'Wu', 'Zhou'];
const GIVEN = ['Wei', 'Fang', 'Min', 'Jing', 'Lei', 'Yan', 'Tao', 'Xin', 'Hui', 'Bo'];

/**
 * A student card, active this school year, for the main gate; `overrides` change any field. A CPU
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
    validFrom: '2026-09-01T00:00:00+08:00',
    validUntil: '2027-07-31T23:59:59+08:00',
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

/** What the applet of sample CPU card `n` holds: its number, its key and its certificate. */
export function sampleEduApplet(n: number): {
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
      issuer: SAMPLE_CARD_ISSUER,
      notBefore: '2026-09-01',
      notAfter: '2031-08-31',
    }),
  };
}
export { chainRecords, gateDecisionData, type RecordBody } from './records.js';
