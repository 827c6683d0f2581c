import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLogger,
  Gateway,
  PcscReaderDriver,
  parseConfig,
  RosterStore,
  recordingIoFor,
} from '@educard/gateway';
import {
  authenticateCommand,
  CHALLENGE_BYTES,
  cardAuthMessage,
  ed25519,
  encodeAuthResponse,
  GET_UID,
  parseAuthResponse,
  splitResponse,
} from '@educard/terminal-sdk';
import {
  SAMPLE_MONDAY,
  sampleCardSeed,
  sampleCpuCard,
  sampleEduApplet,
  TestAuthority,
} from '@educard/terminal-sdk/testing';
import { VirtualCard, VPCD_PORT } from '@educard/terminal-sdk/virtual-card';
import { startPcscd, until } from '../support/index.js';
import { atMost, type BenchResult, info, median, percentile } from './report.js';

const quiet = createLogger('bench', { level: 'silent' });
const READER = 'Virtual PCD 00 00';
const TAPS = 40;

interface Devices {
  on(
    event: 'card-inserted',
    listener: (event: { reader: { name: string }; card: { transmit(c: Buffer): Promise<Buffer> } }) => void,
  ): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  listReaders(): { name: string }[];
  start(): void;
  stop(): void;
}

/**
 * The stack's own floor: one APDU round trip through the binding, pcscd, vpcd and a virtual card. The
 * card is presented only once the binding lists the reader: a card already there when the binding's
 * monitor first sees the reader is not reported as inserted.
 */
async function apduRoundTrip(): Promise<number[]> {
  const { Devices } = createRequire(import.meta.url)('smartcard') as { Devices: new () => Devices };
  const devices = new Devices();
  devices.on('error', () => undefined);
  const card = new VirtualCard({ uid: Uint8Array.of(1, 2, 3, 4) });
  let connected: { transmit(c: Buffer): Promise<Buffer> } | undefined;
  devices.on('card-inserted', (event) => {
    if (event.reader.name === READER) connected = event.card;
  });
  devices.start();
  try {
    await until(() => devices.listReaders().some((reader) => reader.name === READER), {
      what: `the binding to list ${READER}`,
      timeoutMs: 10_000,
    });
    await card.presentCard();
    const inserted = await until(() => connected, {
      what: `the binding to report the card on ${READER}`,
      timeoutMs: 10_000,
    });
    const samples: number[] = [];
    for (let i = 0; i < 60; i++) {
      const started = performance.now();
      await inserted.transmit(Buffer.from(GET_UID));
      samples.push(performance.now() - started);
    }
    return samples;
  } finally {
    await card.removeCard();
    devices.stop();
  }
}

/** Our side of the challenge-response: a challenge, the answer parsed, the signature verified. */
function cpuAuthSamples(): number[] {
  const applet = sampleEduApplet(1);
  const publicKey = ed25519.keyPairFromSeed(sampleCardSeed(1)).publicKey;
  const samples: number[] = [];
  for (let i = 0; i < 3000; i++) {
    const cardChallenge = new Uint8Array(randomBytes(CHALLENGE_BYTES));
    const answer = encodeAuthResponse(
      applet.cardNumber,
      applet.certificate,
      ed25519.sign(cardAuthMessage(cardChallenge, applet.cardNumber), applet.seed),
    );
    const started = performance.now();
    const challenge = new Uint8Array(randomBytes(CHALLENGE_BYTES));
    authenticateCommand(challenge);
    const proof = parseAuthResponse(
      splitResponse(Uint8Array.from([...answer, 0x90, 0x00])).data,
      cardChallenge,
    );
    const good =
      Buffer.from(proof.certificate?.publicKey ?? []).equals(Buffer.from(publicKey)) &&
      ed25519.verify(cardAuthMessage(proof.challenge, proof.cardNumber), proof.signature, publicKey);
    samples.push(performance.now() - started);
    if (!good) throw new Error('the benchmark card did not verify');
  }
  return samples.slice(500);
}

export async function readersBench(): Promise<BenchResult[]> {
  const pcscd = await startPcscd();
  const dir = await mkdtemp(join(tmpdir(), 'bench-readers-'));
  let gateway: Gateway | undefined;
  try {
    const rtt = await apduRoundTrip();
    const reads = new Map<string, { detectedAt: number; waitedMs: number; apdus: number }>();
    const driver = new PcscReaderDriver({
      logger: quiet,
      onRead: (read) =>
        reads.set(read.reader, { detectedAt: read.detectedAt, waitedMs: read.waitedMs, apdus: read.apdus }),
    });
    const config = parseConfig({
      device: { id: 'gate-bench', school: 'school-1' },
      dataDir: dir,
      station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
      readers: { driver: 'pcsc', bindings: [{ pattern: '00 00$', direction: 'in' }] },
      policy: { passback: { mode: 'off' } },
    });
    const authority = new TestAuthority('school-1', { now: () => SAMPLE_MONDAY });
    await mkdir(join(dir, 'roster'), { recursive: true });
    await RosterStore.writeAnchor(join(dir, 'roster'), authority.anchor());
    gateway = await Gateway.start({
      config,
      logger: quiet,
      io: recordingIoFor(config.io),
      readers: driver,
      now: () => SAMPLE_MONDAY,
      synced: () => true,
    });
    await gateway.roster.acceptKeySet(authority.keySet());
    const roster = authority.snapshot(1, [sampleCpuCard(1)]);
    await gateway.acceptRoster(roster.manifest, roster.body);
    await until(() => driver.readers().some((r) => r.name === READER), {
      what: `the gateway to bind ${READER}`,
      timeoutMs: 10_000,
    });

    const total: number[] = [];
    const ours: number[] = [];
    const detect: number[] = [];
    const apdus: number[] = [];
    const live = gateway;
    // The first tap after start runs cold (code paths not yet compiled): reported on its own, and
    // the figures are taken over the taps after it.
    for (let i = 0; i <= TAPS; i++) {
      const card = new VirtualCard({
        uid: Uint8Array.of(9, 9, 9, 9),
        edu: sampleEduApplet(1),
        port: VPCD_PORT,
      });
      let acted: { actedAt: number; decision: string } | undefined;
      const off = live.station.events.on('tap', (outcome) => {
        acted = { actedAt: outcome.actedAt, decision: outcome.decision.decision };
      });
      const presented = performance.now();
      await card.presentCard();
      const { actedAt, decision } = await until(() => acted, {
        what: `a decision for tap ${i + 1} on ${READER}`,
        timeoutMs: 10_000,
      }).finally(off);
      if (decision !== 'grant') throw new Error(`the benchmark card was refused (${decision})`);
      const read = reads.get(READER) as { detectedAt: number; waitedMs: number; apdus: number };
      total.push(actedAt - read.detectedAt);
      ours.push(actedAt - read.detectedAt - read.waitedMs);
      detect.push(read.detectedAt - presented);
      apdus.push(read.apdus);
      await card.removeCard();
      await until(() => !driver.readers().find((r) => r.name === READER)?.cardPresent, {
        what: `the card of tap ${i + 1} to leave ${READER}`,
        timeoutMs: 5000,
        everyMs: 10,
      });
    }
    const firstOurs = ours.shift() as number;
    total.shift();
    detect.shift();
    apdus.shift();
    const rttMedian = median(rtt);
    const perTap = median(apdus);
    const cpu = cpuAuthSamples();
    return [
      info('readers.apdu_rtt.median_ms', rttMedian, 'ms'),
      info('readers.apdu_rtt.p99_ms', percentile(rtt, 99), 'ms'),
      info('readers.apdus_per_tap', perTap, 'APDUs'),
      atMost('readers.present_to_actuator.p99_ms', percentile(total, 99), 'ms', perTap * rttMedian * 1.2 + 5),
      info('readers.present_to_actuator.median_ms', median(total), 'ms'),
      info('readers.detect.median_ms', median(detect), 'ms'),
      atMost('readers.our_share.p99_ms', percentile(ours, 99), 'ms', 5),
      info('readers.our_share.median_ms', median(ours), 'ms'),
      info('readers.our_share.first_tap_ms', firstOurs, 'ms'),
      atMost('readers.cpu_auth.p99_ms', percentile(cpu, 99), 'ms', 2),
      info('readers.cpu_auth.median_ms', median(cpu), 'ms'),
    ];
  } finally {
    await gateway?.stop();
    await pcscd.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
