import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { Gateway, Journal, parseConfig, type SimulatedReaderDriver } from '@educard/gateway';
import { fillDisk, type Mounted, mountTmpfs, until } from '@educard/scripts/support';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { admin } from '../support/bridge.js';
import { capturingLogger, type Enrolled, gateCard, schoolWithDevice, uplinkTo } from './storage-fixture.js';

/**
 * A gateway whose disk fills up: its data directory on a tmpfs of 4 MiB mounted by the test (as
 * root), filled to the last byte by a file beside it. The gate decides every tap; the journal holds
 * at most its bound in memory and counts what it drops; the bridge hears of it live; space freed, what
 * was held is written in order and reaches the bridge once; a stop with the disk full takes a bounded
 * time and says what it could not write.
 */

const DEVICE = 'gate-full';
const MAX_HELD = 4_000;
const TAPS = 6_000;
const VALID = gateCard(1);
const LOST = gateCard(2, { status: 'lost' });

let dir: string;
let disk: Mounted | undefined;
let bridge: Bridge | undefined;
let gateway: Gateway | undefined;
let dataDir: string;
let credentials: Enrolled;
let lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'disk-full-'));
  disk = await mountTmpfs(dir, 4 * 1024 * 1024);
  process.stdout.write(
    `disk-full: the gateway's data directory is on a 4 MiB tmpfs mounted at ${disk.path}\n`,
  );
  dataDir = join(disk.path, DEVICE);
  ({ bridge, credentials } = await schoolWithDevice(dir, dataDir, DEVICE, [VALID, LOST]));
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await bridge?.stop();
  await disk?.unmount();
  await rm(dir, { recursive: true, force: true });
});

async function startGateway(): Promise<Gateway> {
  lines = [];
  return Gateway.start({
    config: parseConfig({
      device: { id: DEVICE, school: 'school-1' },
      dataDir,
      station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
      readers: { simulated: ['sim-in'] },
      journal: { segmentBytes: 64 * 1024, minFreeBytes: 256 * 1024, maxHeldRecords: MAX_HELD },
      uplink: uplinkTo(bridge as Bridge, credentials),
    }),
    logger: capturingLogger(DEVICE, lines),
  });
}

const FILLER = () => join(disk?.path as string, 'filler');
/** Fills the disk to the last byte with a file beside the gateway's data. */
const fill = () => fillDisk(disk?.path as string);

/** Taps `count` times, alternating a valid card and a lost one; returns the decisions and the most held. */
async function tapMany(count: number): Promise<{ grants: number; denies: number; maxHeld: number }> {
  const driver = gateway?.readers as SimulatedReaderDriver;
  const seen = { grants: 0, denies: 0, maxHeld: 0 };
  const off = gateway?.station.events.on('tap', ({ decision }) => {
    if (decision.decision === 'grant') seen.grants += 1;
    else if (decision.reason === 'lost') seen.denies += 1;
  });
  for (let i = 0; i < count; i++) {
    driver.present('sim-in', { uid: (i % 2 ? LOST : VALID).credential.uid as string });
    seen.maxHeld = Math.max(seen.maxHeld, gateway?.journal.stats().held ?? 0);
    // A gate's pace: the journal's retries and the uplink run between taps.
    if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
  }
  off?.();
  return seen;
}

interface AlarmView {
  kind: string;
  device?: string;
  message: string;
  open: boolean;
}
const diskAlarm = async () =>
  ((await admin(bridge?.httpUrl as string, '/v1/ops/alarms')).alarms as AlarmView[]).find(
    (a) => a.kind === 'journal.disk-low' && a.device === DEVICE,
  );

describe('a gateway whose disk is full', () => {
  it('decides every tap, holds at most its bound, tells the bridge live, writes what it held in order once space is back, and stops in bounded time saying what it could not write', async () => {
    gateway = await startGateway();
    await until(() => gateway?.roster.view?.version === 1, { what: 'the roster', timeoutMs: 30_000 });
    const store = bridge?.store as Bridge['store'];
    await until(() => store.cursor(DEVICE).seq === gateway?.journal.stats().lastSeq, { what: 'delivered' });
    await fill();
    // From here nothing more can be made durable: what the journal had written is all it keeps.
    const before = gateway.journal.stats().durableSeq;
    const decided = await tapMany(TAPS);
    expect(decided).toMatchObject({ grants: TAPS / 2, denies: TAPS / 2 });
    expect(decided.maxHeld).toBeLessThanOrEqual(MAX_HELD);
    const full = gateway.journal.stats();
    expect(full).toMatchObject({ diskFull: true, held: MAX_HELD, durableSeq: before });
    expect(full.lost).toBe(full.lastSeq - before - MAX_HELD);
    // Prometheus sees the same as status does.
    const gauge = async (name: string) =>
      (await gateway?.metrics.registry.getSingleMetric(name)?.get())?.values[0]?.value;
    expect(await gauge('educard_gateway_journal_disk_full')).toBe(1);
    expect(await gauge('educard_gateway_journal_held_records')).toBe(MAX_HELD);
    expect(await gauge('educard_gateway_journal_lost_records')).toBe(full.lost);
    // The journal cannot write its warning: the live device state carries it to the bridge.
    const raised = await until(
      async () => {
        const alarm = await diskAlarm();
        return alarm?.open && alarm.message.includes(`${MAX_HELD} of ${MAX_HELD} records held`)
          ? alarm
          : undefined;
      },
      { what: 'the disk alarm at the bridge' },
    );
    expect(raised.message).toMatch(/^journal disk full: 4000 of 4000 records held in memory, \d+ lost/);
    expect(store.cursor(DEVICE).seq).toBe(before);

    // Space back: what was held is written, in order, after the record that explains what was not.
    await rm(FILLER());
    await until(() => !gateway?.journal.stats().diskFull && gateway?.journal.stats().held === 0, {
      what: 'the held records written',
      timeoutMs: 30_000,
    });
    const written = gateway.journal.stats();
    await until(() => store.cursor(DEVICE).seq === written.lastSeq, {
      what: 'all delivered',
      timeoutMs: 30_000,
    });
    const firstKept = before + full.lost + 1;
    const events = store.queryEvents({ device: DEVICE, limit: 100_000 }).map((e) => e.record);
    const seqs = events.map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs.filter((s) => s > before && s < firstKept)).toEqual([]);
    expect(seqs.filter((s) => s >= firstKept && s <= before + full.lost + MAX_HELD)).toHaveLength(MAX_HELD);
    expect(store.journalLosses({ device: DEVICE, limit: 10 })).toMatchObject([
      {
        cause: 'disk-full',
        firstSeq: before + 1,
        lastSeq: firstKept - 1,
        records: full.lost,
        missing: full.lost,
      },
    ]);
    expect(events.find((r) => r.type === 'journal.damaged')?.data).toMatchObject({
      cause: 'disk-full',
      firstSeq: before + 1,
      lastSeq: firstKept - 1,
    });
    await until(async () => ((await diskAlarm())?.open === false ? true : undefined), {
      what: 'the disk alarm cleared',
    });

    // A stop with the disk full again: bounded, and it says what it could not write. (Filled once the
    // acknowledged segments are deleted: that frees space too.)
    await until(
      () => {
        const stats = gateway?.journal.stats();
        return stats?.ackedSeq === stats?.lastSeq && stats?.segments === 1;
      },
      { what: 'everything acknowledged and its segments deleted' },
    );
    await fill();
    await tapMany(200);
    // Full, and low (its own warning journaled, held with the rest): nothing more is appended.
    await until(() => gateway?.journal.stats().diskFull && gateway.journal.stats().diskLow, {
      what: 'the disk full again',
    });
    const held = gateway.journal.stats().held;
    // Full at the stop, as the case says: nothing durable still waits for its ack (an ack deletes
    // segments, and that frees room), and the disk topped up once more (a loaded runner found room for
    // the small count file at the stop once, 2026-12-07).
    await until(
      () => {
        const stats = gateway?.journal.stats();
        return stats?.ackedSeq === stats?.durableSeq;
      },
      { what: 'every durable record acknowledged' },
    );
    await fill();
    const stderr = vi.spyOn(process.stderr, 'write');
    const stopping = performance.now();
    await gateway.stop();
    const stopMs = performance.now() - stopping;
    gateway = undefined;
    process.stdout.write(
      `disk-full: stop() with ${held} records held on a full disk took ${stopMs.toFixed(0)} ms\n`,
    );
    expect(stopMs).toBeLessThan(5_000);
    expect(
      lines.find((l) => l.msg === 'journal closed with records it could not make durable'),
    ).toMatchObject({
      records: held,
    });
    // Not even the count could be written: it is printed.
    expect(stderr.mock.calls.map(([text]) => String(text)).join('')).toContain(`${held} record(s)`);
    stderr.mockRestore();

    // A start on a full disk: the gate decides; a stop with room for the count but not the records
    // (what is held goes out in one write, larger than the room made just before the stop).
    gateway = await startGateway();
    expect((await tapMany(100)).grants).toBe(50);
    await tapMany(300);
    await until(() => gateway?.journal.stats().diskFull && gateway.journal.stats().diskLow, {
      what: 'the disk full again',
    });
    const unsaved = gateway.journal.stats().held;
    await truncate(FILLER(), (await stat(FILLER())).size - 16 * 1024);
    await gateway.stop();
    gateway = undefined;
    expect(await readdir(join(dataDir, 'journal'))).toContain('unsaved.json');

    // Space back, the next start journals that loss, and the bridge keeps it.
    await rm(FILLER());
    gateway = await startGateway();
    await until(
      () =>
        store
          .journalLosses({ device: DEVICE, limit: 10 })
          .find((l) => l.cause === 'unsaved-at-stop' && l.records === unsaved),
      { what: 'the loss at stop at the bridge', timeoutMs: 30_000 },
    );
    expect(await readdir(join(dataDir, 'journal'))).not.toContain('unsaved.json');
    await gateway.stop();
    gateway = undefined;
  }, 300_000);

  it('opens a journal found damaged on a full disk, and sets the damage aside at the next start with room', async () => {
    // With room to begin with, whatever the case before left behind.
    await rm(FILLER(), { force: true });
    const dir = join(disk?.path as string, 'damaged-and-full');
    const open = () =>
      Journal.open({
        dir,
        device: DEVICE,
        logger: capturingLogger(DEVICE, []),
        segmentBytes: 4096,
        minFreeBytes: 0,
      });
    const journal = await open();
    for (let i = 0; i < 60; i++) journal.append(tapRecord(i));
    await journal.close();
    const segment = join(dir, (await readdir(dir)).filter((n) => n.startsWith('seg-')).sort()[1] as string);
    const bytes = await readFile(segment);
    bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] as number) ^ 0x01;
    await writeFile(segment, bytes);

    await fill();
    const full = await open();
    expect(full.stats()).toMatchObject({
      quarantined: [],
      notes: [expect.stringMatching(/^damage not set aside \(.*ENOSPC/)],
    });
    expect(full.append(tapRecord(60)).seq).toBeGreaterThan(60);
    await full.close();

    await rm(FILLER());
    const roomy = await open();
    expect(roomy.stats().quarantined).toEqual([expect.stringMatching(/^quarantine\/seg-/)]);
    expect(await roomy.verify()).toMatchObject({ ok: true });
    await roomy.close();
  }, 60_000);
});

/** A record as a station would hand it to the journal. */
function tapRecord(i: number) {
  return {
    type: 'door.exit-request' as const,
    at: new Date().toISOString(),
    clock: 'synced' as const,
    data: { station: 'gate-main', zone: `zone-${i}` },
  };
}
