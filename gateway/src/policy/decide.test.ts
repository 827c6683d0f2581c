import {
  type CardEntry,
  cardAuthMessage,
  nativeEd25519,
  type RosterManifest,
  type RosterSnapshot,
} from '@educard/terminal-sdk';
import {
  SAMPLE_CALENDAR,
  SAMPLE_SCHEDULES,
  sampleCard,
  sampleCardSeed,
  sampleCpuCard,
} from '@educard/terminal-sdk/testing';
import { describe, expect, it } from 'vitest';
import { RosterIndex } from '../roster/index.js';
import { type Decision, decide, PassbackState, PolicyConfig, type PresentedCard } from './index.js';

/** Monday 23 November 2026, 08:00 in Shanghai. */
const MONDAY_8AM = Date.parse('2026-11-23T08:00:00+08:00');
const at = (local: string) => Date.parse(`${local}+08:00`);

function roster(cards: CardEntry[], expiresAt = '2026-12-31T00:00:00Z', issuedAt = '2026-09-01T00:00:00Z') {
  const snapshot: RosterSnapshot = {
    kind: 'snapshot',
    school: 'school-1',
    version: 3,
    issuedAt,
    calendar: SAMPLE_CALENDAR,
    schedules: SAMPLE_SCHEDULES,
    cards,
  };
  const manifest = { issuedAt, expiresAt } as RosterManifest;
  return new RosterIndex(snapshot, manifest);
}

const student = sampleCard(1);
const cpu = sampleCpuCard(2);
const teacher = sampleCard(3, { role: 'teacher', schedules: [] });
const boarder = sampleCard(4, { schedules: ['boarding-night'] });
const caretaker = sampleCard(5, { role: 'staff', schedules: ['caretaker'] });
const everyone = [student, cpu, teacher, boarder, caretaker];

function tapOf(card: CardEntry): PresentedCard {
  return { uid: card.credential.uid as string };
}

function cpuTap(card: CardEntry, n: number, tamper = false): PresentedCard {
  const challenge = new Uint8Array(16).fill(9);
  const signature = nativeEd25519.sign(cardAuthMessage(challenge, card.cardId), sampleCardSeed(n));
  if (tamper) signature[0] = (signature[0] ?? 0) ^ 0xff;
  return { uid: 'A1B2C3D4', proof: { cardNumber: card.cardId, challenge, signature } };
}

function run(
  presented: PresentedCard,
  options: {
    cards?: CardEntry[];
    now?: number;
    trusted?: boolean;
    zone?: string;
    direction?: 'in' | 'out' | 'none';
    config?: Partial<PolicyConfig>;
    passback?: PassbackState;
    expiresAt?: string;
    lockdown?: boolean;
  } = {},
): Decision {
  return decide(
    presented,
    {
      zone: options.zone ?? 'main-gate',
      direction: options.direction ?? 'in',
      lockdown: options.lockdown ?? false,
    },
    roster(options.cards ?? everyone, options.expiresAt),
    { now: options.now ?? MONDAY_8AM, trusted: options.trusted ?? true },
    options.passback ?? new PassbackState(),
    PolicyConfig.parse(options.config ?? {}),
  );
}

const outcome = (d: Decision) => [d.decision, d.reason, ...d.flags].join(' ');

describe('gate decisions', () => {
  it('grants an active student in the zone on a school morning, flagged as UID-only', () => {
    expect(outcome(run(tapOf(student)))).toBe('grant ok uid-only');
  });

  it('grants a CPU card that signs the challenge with the key the roster binds', () => {
    const decision = run(cpuTap(cpu, 2));
    expect(outcome(decision)).toBe('grant ok');
    expect(decision.credential).toBe('edu-cpu');
  });

  it('denies a CPU card whose signature is wrong: card-auth-failed', () => {
    expect(outcome(run(cpuTap(cpu, 2, true)))).toBe('deny card-auth-failed');
  });

  it('denies a UID copied from a CPU card: card-auth-failed', () => {
    expect(outcome(run(tapOf(cpu)))).toBe('deny card-auth-failed');
  });

  it('denies an unknown card and a card when there is no roster', () => {
    expect(outcome(run({ uid: 'DEADBEEF' }))).toBe('deny unknown-card');
    const noRoster = decide(
      { uid: 'DEADBEEF' },
      { zone: 'main-gate', direction: 'in' },
      undefined,
      { now: MONDAY_8AM, trusted: true },
      new PassbackState(),
      PolicyConfig.parse({}),
    );
    expect(outcome(noRoster)).toBe('deny no-roster');
  });

  it.each(['lost', 'cancelled', 'suspended'] as const)('denies a %s card', (status) => {
    const card = sampleCard(1, { status });
    expect(outcome(run(tapOf(card), { cards: [card] }))).toBe(`deny ${status} uid-only`);
  });

  it('denies a card cancelled because its holder moved to another school: transferred', () => {
    const card = sampleCard(1, { status: 'cancelled', statusReason: 'transferred' });
    expect(outcome(run(tapOf(card), { cards: [card] }))).toBe('deny transferred uid-only');
  });

  it('denies a card not yet valid and an expired one', () => {
    const future = sampleCard(1, { validFrom: '2026-12-01T00:00:00+08:00' });
    expect(run(tapOf(future), { cards: [future] }).reason).toBe('not-yet-valid');
    const past = sampleCard(1, { validUntil: '2026-11-01T00:00:00+08:00' });
    expect(run(tapOf(past), { cards: [past] }).reason).toBe('expired');
  });

  it('denies a card outside its zones: not-in-zone', () => {
    expect(run(tapOf(student), { zone: 'computer-room' }).reason).toBe('not-in-zone');
  });

  it('reads the reader failure the profile reported', () => {
    expect(outcome(run({ uid: '04AABBCC', failure: 'card-removed' }))).toBe('deny card-removed');
    expect(outcome(run({ uid: '04AABBCC', failure: 'card-unreadable' }))).toBe('deny card-unreadable');
  });
});

describe('schedules', () => {
  it('denies a student outside the school-day window and grants inside it', () => {
    expect(run(tapOf(student), { now: at('2026-11-23T06:29:00') }).reason).toBe('outside-schedule');
    expect(run(tapOf(student), { now: at('2026-11-23T06:30:00') }).reason).toBe('ok');
    expect(run(tapOf(student), { now: at('2026-11-23T18:30:00') }).reason).toBe('outside-schedule');
  });

  it('denies on a weekend and grants on a make-up Sunday that runs as a Monday', () => {
    expect(run(tapOf(student), { now: at('2026-11-22T09:00:00') }).reason).toBe('outside-schedule');
    expect(run(tapOf(student), { now: at('2026-09-27T09:00:00') }).reason).toBe('ok');
  });

  it('denies on a holiday unless the schedule runs on holidays', () => {
    expect(run(tapOf(student), { now: at('2026-10-01T09:00:00') }).reason).toBe('outside-schedule');
    expect(run(tapOf(caretaker), { now: at('2026-10-01T09:00:00') }).reason).toBe('ok');
  });

  it('runs a window across midnight: Friday 18:30 to Saturday 07:30 is open, Saturday night is not', () => {
    expect(run(tapOf(boarder), { now: at('2026-11-27T23:00:00') }).reason).toBe('ok');
    expect(run(tapOf(boarder), { now: at('2026-11-28T07:00:00') }).reason).toBe('ok');
    expect(run(tapOf(boarder), { now: at('2026-11-28T07:30:00') }).reason).toBe('outside-schedule');
    expect(run(tapOf(boarder), { now: at('2026-11-28T23:00:00') }).reason).toBe('outside-schedule');
  });

  it('closes the night after a holiday eve: the window belongs to the day it opened on', () => {
    // 30 Sep is a school day, so its night window runs into 1 Oct, a holiday, until 07:30.
    expect(run(tapOf(boarder), { now: at('2026-10-01T06:00:00') }).reason).toBe('ok');
    // 1 Oct is a holiday: its night window does not open, so 2 Oct early morning is closed.
    expect(run(tapOf(boarder), { now: at('2026-10-02T06:00:00') }).reason).toBe('outside-schedule');
  });

  it('lets a teacher with no schedule in at any hour', () => {
    expect(run(tapOf(teacher), { now: at('2026-11-22T03:00:00') }).reason).toBe('ok');
  });
});

describe('lockdown', () => {
  const lockdown = true;
  it('staff-only: refuses a student coming in, lets teachers and staff in, and lets everyone out', () => {
    expect(run(tapOf(student), { lockdown }).reason).toBe('lockdown');
    expect(run(tapOf(teacher), { lockdown }).reason).toBe('ok');
    expect(run(tapOf(caretaker), { lockdown, now: at('2026-11-23T06:00:00') }).reason).toBe('ok');
    expect(run(tapOf(student), { lockdown, direction: 'out' }).reason).toBe('ok');
    expect(run(tapOf(student), { lockdown, direction: 'none' }).reason).toBe('ok');
  });

  it('deny-all: refuses teachers coming in too, never anyone going out', () => {
    const config = { lockdown: 'deny-all' as const };
    expect(run(tapOf(teacher), { lockdown, config }).reason).toBe('lockdown');
    expect(run(tapOf(teacher), { lockdown, config, direction: 'out' }).reason).toBe('ok');
  });

  it("a card refused for what it is keeps its own reason; without the lockdown a student's entry is as before", () => {
    const lost = sampleCard(6, { status: 'lost' });
    expect(run(tapOf(lost), { lockdown, cards: [lost] }).reason).toBe('lost');
    expect(run(tapOf(student), { lockdown, zone: 'computer-room' }).reason).toBe('not-in-zone');
    expect(run(tapOf(student)).reason).toBe('ok');
  });
});

describe('roster expired', () => {
  const expiresAt = '2026-11-22T00:00:00Z';
  it('staff-only: lets teachers in during the grace period, flagged, and denies students', () => {
    expect(outcome(run(tapOf(teacher), { expiresAt }))).toBe('grant ok uid-only roster-grace');
    expect(run(tapOf(student), { expiresAt }).reason).toBe('roster-stale');
  });

  it('staff-only: denies everyone after the grace period', () => {
    expect(
      run(tapOf(teacher), {
        expiresAt,
        config: { rosterExpired: { mode: 'staff-only', graceMs: 3_600_000 } },
      }).reason,
    ).toBe('roster-stale');
  });

  it('deny-all: denies teachers too', () => {
    expect(
      run(tapOf(teacher), { expiresAt, config: { rosterExpired: { mode: 'deny-all', graceMs: 0 } } }).reason,
    ).toBe('roster-stale');
  });
});

describe('clock not trustworthy', () => {
  it('staff-only: denies a student, lets a teacher in flagged', () => {
    expect(run(tapOf(student), { trusted: false }).reason).toBe('clock-untrusted');
    expect(outcome(run(tapOf(teacher), { trusted: false }))).toBe('grant ok uid-only clock-fallback');
  });

  it('a clock before the roster issue time is not trusted either', () => {
    expect(run(tapOf(student), { now: at('2026-08-31T09:00:00') }).reason).toBe('clock-untrusted');
  });

  it('deny-all and ignore-time', () => {
    expect(run(tapOf(teacher), { trusted: false, config: { clockUntrusted: 'deny-all' } }).reason).toBe(
      'clock-untrusted',
    );
    // ignore-time still checks what needs no clock: status and zone.
    expect(outcome(run(tapOf(student), { trusted: false, config: { clockUntrusted: 'ignore-time' } }))).toBe(
      'grant ok uid-only clock-fallback',
    );
    expect(
      run(tapOf(student), { trusted: false, zone: 'lab', config: { clockUntrusted: 'ignore-time' } }).reason,
    ).toBe('not-in-zone');
  });
});

describe('anti-passback', () => {
  it('hard: denies a second entry through the same zone within the window, allows after leaving', () => {
    const passback = new PassbackState();
    const config = { passback: { mode: 'hard' as const, windowMs: 3_600_000 } };
    passback.record(student.personId, 'main-gate', 'in', MONDAY_8AM);
    expect(run(tapOf(student), { passback, config, now: MONDAY_8AM + 60_000 }).reason).toBe('passback');
    expect(run(tapOf(student), { passback, config, direction: 'out', now: MONDAY_8AM + 60_000 }).reason).toBe(
      'ok',
    );
    expect(run(tapOf(student), { passback, config, now: MONDAY_8AM + 3_600_000 }).reason).toBe('ok');
  });

  it('soft: grants and flags', () => {
    const passback = new PassbackState();
    passback.record(student.personId, 'main-gate', 'in', MONDAY_8AM);
    expect(outcome(run(tapOf(student), { passback, now: MONDAY_8AM + 1000 }))).toBe(
      'grant ok uid-only passback-soft',
    );
  });

  it('off, or a reader with no direction: no check', () => {
    const passback = new PassbackState();
    passback.record(student.personId, 'main-gate', 'in', MONDAY_8AM);
    expect(
      run(tapOf(student), { passback, config: { passback: { mode: 'off', windowMs: 1000 } } }).reason,
    ).toBe('ok');
    expect(
      run(tapOf(student), {
        passback,
        direction: 'none',
        config: { passback: { mode: 'hard', windowMs: 3_600_000 } },
      }).reason,
    ).toBe('ok');
  });
});
