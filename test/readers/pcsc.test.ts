import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger, Gateway, parseConfig, RosterStore, recordingIoFor } from '@educard/gateway';
import { type Pcscd, startPcscd, until } from '@educard/scripts/support';
import { generateKeyPair } from '@educard/terminal-sdk';
import {
  certificateValidity,
  SAMPLE_CARD_ISSUER,
  SAMPLE_CARD_ISSUER_B,
  SAMPLE_MONDAY,
  sampleCard,
  sampleCardSeed,
  sampleCpuCard,
  sampleEduApplet,
  sampleUid,
  TestAuthority,
} from '@educard/terminal-sdk/testing';
import { VirtualCard, type VirtualCardOptions, VPCD_PORT } from '@educard/terminal-sdk/virtual-card';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exited, startNode } from '../support/processes.js';

// Real PC/SC end to end: Debian's pcscd with vsmartcard's two virtual readers, the `smartcard`
// binding inside the gateway, and virtual cards answering over vpcd's socket. One pcscd per host,
// so every PC/SC test lives in this file and runs in order.

const IN = 'Virtual PCD 00 00';
const OUT = 'Virtual PCD 00 01';
const PORT = { [IN]: VPCD_PORT, [OUT]: VPCD_PORT + 1 } as const;
/** The gateway's clock: the fixtures' school year, in the school day. */
const MONDAY_8AM = SAMPLE_MONDAY;

let pcscd: Pcscd;
let gateway: Gateway;
let dir: string;
const logLines: string[] = [];

const uidBytes = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));
const eduCard = (n: number, extra: Partial<VirtualCardOptions> = {}): VirtualCardOptions => ({
  uid: uidBytes(sampleUid(n)),
  edu: sampleEduApplet(n),
  ...extra,
});
const uidCard = (n: number): VirtualCardOptions => ({ uid: uidBytes(sampleUid(n)) });

/** Holds a card to a reader until the gateway has decided, then takes it away. */
async function tap(reader: keyof typeof PORT, options: VirtualCardOptions) {
  const card = new VirtualCard({ ...options, port: PORT[reader] });
  const outcome = new Promise<{ reason: string; decision: string; seq: number; reader: string }>(
    (resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no decision for a card on ${reader}`)), 10_000);
      const off = gateway.station.events.on('tap', (result) => {
        clearTimeout(timer);
        off();
        if (!result.record) reject(new Error(`a gate's tap on ${reader} was not journaled`));
        else
          resolve({
            reason: result.decision.reason,
            decision: result.decision.decision,
            seq: result.record.seq,
            reader: String(result.record.data.reader),
          });
      });
    },
  );
  await card.presentCard();
  try {
    return { ...(await outcome), apdus: card.apdus };
  } finally {
    await card.removeCard();
    await waitForRemoval(reader);
  }
}

async function waitForRemoval(reader: string) {
  const deadline = Date.now() + 5000;
  while (gateway.readers.readers().find((r) => r.name === reader)?.cardPresent && Date.now() < deadline)
    await sleep(20);
}

async function readersUp(timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (
    gateway.readers.readers().filter((r) => r.connected && (r.name === IN || r.name === OUT)).length < 2
  ) {
    if (Date.now() > deadline)
      throw new Error(
        `readers not back: ${JSON.stringify(gateway.readers.readers())}; pcscd said: ${pcscd.log() || 'nothing'}; the driver logged: ${logLines.filter((line) => /reader|PC\/SC/.test(line)).join('')}`,
      );
    await sleep(50);
  }
}

beforeAll(async () => {
  pcscd = await startPcscd();
  dir = await mkdtemp(join(tmpdir(), 'pcsc-'));
  const config = parseConfig({
    device: { id: 'gate-pcsc', school: 'school-1' },
    dataDir: dir,
    station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
    readers: {
      driver: 'pcsc',
      pcsc: { exchangeTimeoutMs: 400, recoveryMs: 500 },
      bindings: [
        { pattern: '00 00$', direction: 'in' },
        { pattern: '00 01$', direction: 'out' },
      ],
    },
    policy: { passback: { mode: 'hard', windowMs: 1_800_000 } },
  });
  const authority = new TestAuthority('school-1', { now: () => MONDAY_8AM });
  await mkdir(join(dir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dir, 'roster'), authority.anchor());
  const logger = createLogger('gateway', {
    level: 'debug',
    destination: { write: (line: string) => logLines.push(line) } as never,
  });
  gateway = await Gateway.start({
    config,
    logger,
    io: recordingIoFor(config.io),
    now: () => MONDAY_8AM,
    synced: () => true,
  });
  await gateway.roster.acceptKeySet(authority.keySet());
  const roster = authority.snapshot(1, [
    sampleCpuCard(1),
    sampleCard(2),
    sampleCpuCard(3),
    sampleCpuCard(4),
    sampleCpuCard(5),
  ]);
  await gateway.acceptRoster(roster.manifest, roster.body);
  await readersUp(20_000);
}, 45_000);

afterAll(async () => {
  await gateway?.stop();
  await pcscd?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('PC/SC readers with virtual cards', () => {
  it('finds the readers plugged in before start and binds them by name', () => {
    const names = gateway.readers.readers().map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining([IN, OUT]));
    expect(logLines.some((l) => l.includes('"reader bound"') && l.includes(IN))).toBe(true);
  });

  it('grants an EDU CPU card after two APDUs, and a UID card by its UID', async () => {
    const edu = await tap(IN, eduCard(1));
    expect(edu).toMatchObject({ decision: 'grant', reason: 'ok', apdus: 2 });
    const uid = await tap(IN, uidCard(2));
    expect(uid).toMatchObject({ decision: 'grant', reason: 'ok', apdus: 2 });
  });

  it('denies a UID cloned from an EDU CPU card, and journals it', async () => {
    const result = await tap(IN, uidCard(3));
    expect(result).toMatchObject({ decision: 'deny', reason: 'card-auth-failed' });
    const [record] = await gateway.journal.read(result.seq, 1);
    expect(record?.data).toMatchObject({ decision: 'deny', reason: 'card-auth-failed', credential: 'uid' });
  });

  it('gives each bad card its own reason, never a grant', async () => {
    expect(await tap(IN, eduCard(4, { fault: 'wrong-key' }))).toMatchObject({ reason: 'card-auth-failed' });
    expect(await tap(IN, eduCard(4, { fault: 'garbage' }))).toMatchObject({ reason: 'card-unreadable' });
    expect(await tap(IN, eduCard(4, { fault: 'removed-mid-exchange' }))).toMatchObject({
      reason: expect.stringMatching(/^card-(removed|unreadable)$/),
      decision: 'deny',
    });
    expect(await tap(IN, eduCard(4, { delayMs: 900 }))).toMatchObject({ reason: 'card-unreadable' });
    // A card whose certificate is for another number: a copied certificate does not help.
    const other = sampleEduApplet(5);
    expect(
      await tap(IN, eduCard(4, { edu: { ...sampleEduApplet(4), certificate: other.certificate } })),
    ).toMatchObject({ reason: 'card-unreadable' });
    // And after all that, the reader still reads a good card.
    expect(await tap(IN, eduCard(4))).toMatchObject({ decision: 'grant' });
  });

  it('drives anti-passback across two readers bound to in and out of one zone', async () => {
    expect(await tap(IN, eduCard(5))).toMatchObject({ decision: 'grant', reader: IN });
    expect(await tap(IN, eduCard(5))).toMatchObject({ decision: 'deny', reason: 'passback' });
    expect(await tap(OUT, eduCard(5))).toMatchObject({ decision: 'grant', reader: OUT });
    expect(await tap(IN, eduCard(5))).toMatchObject({ decision: 'grant', reader: IN });
  });

  it('reads the next card after pcscd is killed and started again, without a restart', async () => {
    await pcscd.stop();
    const deadline = Date.now() + 5000;
    const serviceDown = () => gateway.readers.readers().some((r) => r.lastError?.includes('PC/SC'));
    while (!serviceDown() && Date.now() < deadline) await sleep(50);
    expect(serviceDown()).toBe(true);
    await pcscd.start();
    const started = performance.now();
    await readersUp(5000);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(await tap(OUT, eduCard(1))).toMatchObject({ decision: 'grant' });
  }, 20_000);

  it('ends every tap in a clean decision whatever the card answers (fuzz)', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 25; i++) {
      const mode = i % 5;
      const override = (apdu: Uint8Array): Uint8Array | undefined => {
        if (mode === 0) return new Uint8Array(randomBytes(1 + (i % 7)));
        if (mode === 1 && apdu[1] === 0x88) return new Uint8Array([...randomBytes(60 + i), 0x90, 0x00]);
        if (mode === 2 && apdu[1] === 0xa4) return Uint8Array.of(0x61, 0x10);
        if (mode === 3 && apdu[1] === 0x88) return Uint8Array.of(0x5a, 0xff, 0x90, 0x00);
        if (mode === 4) return new Uint8Array(randomBytes(200 + i));
        return undefined;
      };
      const result = await tap(i % 2 ? OUT : IN, eduCard(1, { override }));
      expect(result.decision).toBe('deny');
      seen.add(result.reason);
    }
    // An answer pcscd itself cannot carry comes back as a transmit error it words as a reset card; a
    // card that refuses the application but gives the UID of an EDU card is taken for a clone.
    const clean = new Set(['card-unreadable', 'card-removed', 'card-auth-failed', 'unknown-card']);
    expect([...seen].filter((reason) => !clean.has(reason))).toEqual([]);
    expect(await tap(OUT, uidCard(2))).toMatchObject({ decision: 'grant' });
  }, 60_000);

  it('lets a technician tap a virtual card from the command line', async () => {
    const cli = ['scripts/dist/virtual-card/index.js'];
    const bad = startNode(cli[0] as string, ['--edu', '--hold', '1']);
    expect(await exited(bad.process)).toBe(2);
    expect(bad.stderr()).toMatch(/--edu needs --card-number/);
    let reason: string | undefined;
    const off = gateway.station.events.on('tap', (result) => {
      off();
      reason = result.decision.reason;
    });
    const seed = Buffer.from(sampleCardSeed(1)).toString('hex');
    // The command dates a card from the machine's today; this gateway's clock is its own.
    const { notBefore, notAfter } = certificateValidity(MONDAY_8AM);
    const run = startNode(cli[0] as string, [
      '--valid-from',
      notBefore,
      '--valid-until',
      notAfter,
      '--edu',
      '--card-number',
      sampleCard(1).cardId,
      '--seed',
      seed,
      '--reader',
      '0',
      '--hold',
      '1.5',
      '--json',
    ]);
    expect(
      await until(() => reason, { what: 'a decision for the command-line card', timeoutMs: 10_000 }),
    ).toBe('ok');
    expect(await exited(run.process)).toBe(0);
    expect(run.lines.at(-1)).toMatchObject({ cardNumber: sampleCard(1).cardId, apdusAnswered: 2 });
    await waitForRemoval(IN);
  });
});

// The same readers and virtual cards at a venue: the gate above stops, a venue gateway takes the
// readers, trusting two card issuers and a hotlist; every card proves itself by its certificate.
describe('a venue with PC/SC readers and virtual cards', () => {
  const venueCard = (n: number, at: number, issuer = SAMPLE_CARD_ISSUER): VirtualCardOptions => ({
    uid: uidBytes(sampleUid(n)),
    edu: sampleEduApplet(n, at, issuer),
  });

  beforeAll(async () => {
    await gateway.stop();
    const venueDir = join(dir, 'venue');
    const config = parseConfig({
      device: { id: 'venue-pcsc', school: 'museum' },
      dataDir: venueDir,
      station: {
        type: 'venue',
        id: 'science-museum',
        zone: 'museum-door',
        debounceMs: 0,
        hours: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '00:00', end: '24:00' }],
      },
      readers: {
        driver: 'pcsc',
        pcsc: { exchangeTimeoutMs: 400, recoveryMs: 500 },
        bindings: [
          { pattern: '00 00$', direction: 'in' },
          { pattern: '00 01$', direction: 'out' },
        ],
      },
    });
    const authority = new TestAuthority('museum', {
      now: () => MONDAY_8AM,
      cardIssuers: [SAMPLE_CARD_ISSUER, SAMPLE_CARD_ISSUER_B],
    });
    await mkdir(join(venueDir, 'roster'), { recursive: true });
    await RosterStore.writeAnchor(join(venueDir, 'roster'), authority.anchor());
    gateway = await Gateway.start({
      config,
      logger: createLogger('venue', { level: process.env.EDUCARD_TEST_LOG ?? 'silent' }),
      io: recordingIoFor(config.io),
      now: () => MONDAY_8AM,
      synced: () => true,
    });
    await gateway.roster.acceptKeySet(authority.keySet());
    const hotlist = authority.hotlist(1, [{ cardNumber: sampleCard(13).cardId, status: 'lost' }]);
    await gateway.acceptHotlist(hotlist.manifest, hotlist.body);
    await readersUp(10_000);
  }, 30_000);

  it('admits genuine cards of two issuers and refuses each fake or revoked one with its reason', async () => {
    // A third APDU at a venue: the CPU card's UID, remembered to know a UID-only copy of it.
    expect(await tap(IN, venueCard(1, MONDAY_8AM))).toMatchObject({
      decision: 'grant',
      reason: 'ok',
      apdus: 3,
    });
    expect(await tap(IN, venueCard(500_001, MONDAY_8AM, SAMPLE_CARD_ISSUER_B))).toMatchObject({
      decision: 'grant',
      reason: 'ok',
    });
    expect(await tap(IN, venueCard(13, MONDAY_8AM))).toMatchObject({ decision: 'deny', reason: 'lost' });
    // A certificate of six school years ago: its five years of validity are over.
    const sixYearsAgo = MONDAY_8AM - 6 * 365 * 86_400_000;
    expect(await tap(IN, venueCard(6, sixYearsAgo))).toMatchObject({ decision: 'deny', reason: 'expired' });
    expect(await tap(IN, venueCard(7, MONDAY_8AM, generateKeyPair()))).toMatchObject({
      decision: 'deny',
      reason: 'unknown-issuer',
    });
    // Card 1's UID alone, on a copy that answers no applet: the venue has seen that UID on a genuine card.
    expect(await tap(IN, uidCard(1))).toMatchObject({ decision: 'deny', reason: 'card-auth-failed' });
    expect(await tap(IN, uidCard(8))).toMatchObject({ decision: 'deny', reason: 'uid-only-card' });
    const records = await gateway.journal.read(1, 1000);
    expect(records.filter((r) => r.type === 'venue.visit').map((r) => r.data.cardId)).toEqual([
      sampleCard(1).cardId,
      sampleCard(500_001).cardId,
    ]);
    expect(JSON.stringify(records.filter((r) => r.type.startsWith('venue.')))).not.toMatch(/displayName/);
  });
});
