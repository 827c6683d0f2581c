import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { GATEWAY_NODE_FLAGS } from '@educard/gateway';
import { type Mounted, mountBtrfs, until } from '@educard/scripts/support';
import type { EventRecord } from '@educard/terminal-sdk';
import { sampleUid } from '@educard/terminal-sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin } from '../support/bridge.js';
import { EDUCARD, runCommand } from '../support/cli.js';
import { type Child, exited, startNode } from '../support/processes.js';
import { type Enrolled, gateCard, schoolWithDevice, uplinkTo } from './storage-fixture.js';

/**
 * A gateway whose journal rotted on its SD card while it was off: a flipped byte in an old segment
 * and one in the newest segment with records after it, a segment that cannot be read (EIO: the
 * journal lives on btrfs on a loop device, and a byte is flipped under it, so its checksum fails as a
 * rotten block does), and a segment gone. The gateway process starts anyway and decides at once; the
 * bridge takes each loss as a fact without asking for those records, alarms, and counts them.
 */

const DEVICE = 'gate-rot';
const VALID = gateCard(1);
const LOST = gateCard(2, { status: 'lost' });

let dir: string;
let disk: (Mounted & { rot(needle: string): Promise<void> }) | undefined;
let bridge: Bridge | undefined;
let dataDir: string;
let credentials: Enrolled;
const children = new Set<Child>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'damaged-journal-'));
  disk = await mountBtrfs(dir);
  dataDir = join(disk.path, DEVICE);
  ({ bridge, credentials } = await schoolWithDevice(dir, dataDir, DEVICE, [VALID, LOST]));
}, 60_000);

afterAll(async () => {
  for (const child of children) child.process.kill('SIGKILL');
  await Promise.all([...children].map((child) => exited(child.process)));
  await bridge?.stop();
  await disk?.unmount();
  await rm(dir, { recursive: true, force: true });
});

async function startGateway(uplink: boolean): Promise<Child> {
  const path = join(dir, `gateway-${uplink ? 'uplink' : 'alone'}.json`);
  await writeFile(
    path,
    JSON.stringify({
      device: { id: DEVICE, school: 'school-1' },
      dataDir,
      station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
      readers: { simulated: ['sim-in'], script: '-' },
      // Small segments make many; each begun is a few fsyncs on btrfs on a loop device, slow on a busy
      // host: this test is about damage at rest, so every record is let reach the disk at stop.
      journal: { segmentBytes: 4096, minFreeBytes: 1024 * 1024, stopWaitMs: 10_000 },
      ...(uplink ? { uplink: uplinkTo(bridge as Bridge, credentials) } : {}),
    }),
  );
  const child = startNode('gateway/dist/main.js', ['--config', path], { nodeFlags: GATEWAY_NODE_FLAGS });
  children.add(child);
  child.process.once('exit', () => children.delete(child));
  return child;
}

async function stop(child: Child): Promise<void> {
  child.process.kill('SIGTERM');
  expect(await exited(child.process)).toBe(0);
}

const tap = (uid: string) => `${JSON.stringify({ action: 'present', reader: 'sim-in', card: { uid } })}\n`;

/** Each frame of a segment file: its offset, length and record. */
async function frames(path: string): Promise<{ offset: number; length: number; record: EventRecord }[]> {
  const bytes = await readFile(path);
  const found = [];
  for (let offset = 0; offset + 8 <= bytes.length; ) {
    const length = bytes.readUInt32LE(offset);
    const record = JSON.parse(
      bytes.subarray(offset + 8, offset + 8 + length).toString('utf8'),
    ) as EventRecord;
    found.push({ offset, length, record });
    offset += 8 + length;
  }
  return found;
}

async function flipByteOfRecord(path: string, index: number): Promise<number> {
  const all = await frames(path);
  const target = all[index] as (typeof all)[number];
  const bytes = await readFile(path);
  const at = target.offset + 8 + Math.floor(target.length / 2);
  bytes[at] = (bytes[at] as number) ^ 0x01;
  await writeFile(path, bytes);
  return target.record.seq;
}

describe('a gateway whose journal was damaged at rest', () => {
  it('starts, decides at once, quarantines and explains each loss; the bridge keeps the losses as facts and asks for none of them', async () => {
    // Provisioned and connected once: the roster arrives and the first records reach the bridge.
    const first = await startGateway(true);
    await first.waitFor((line) => line.msg === 'roster applied', 30_000);
    await until(() => (bridge?.store.cursor(DEVICE).seq ?? 0) >= 3, { what: 'the first records delivered' });
    await stop(first);
    const delivered = bridge?.store.cursor(DEVICE).seq as number;

    // Then offline for a while: taps journaled that the bridge has not had.
    const offline = await startGateway(false);
    await offline.waitFor((line) => line.msg === 'gateway started', 30_000);
    const taps = 500;
    (offline.process.stdin as NodeJS.WritableStream).write(
      Array.from({ length: taps }, (_, i) => tap(sampleUid(10_000 + i))).join(''),
    );
    await until(() => offline.lines.filter((l) => l.msg === 'tap').length === taps, {
      what: `${taps} taps`,
      timeoutMs: 60_000,
    });
    await stop(offline);

    // The damage, while the device is off.
    const journalDir = join(dataDir, 'journal');
    const segments = (await readdir(journalDir)).filter((n) => /^seg-\d{12}\.log$/.test(n)).sort();
    expect(segments.length).toBeGreaterThanOrEqual(18);
    const firstOf = async (name: string) =>
      ((await frames(join(journalDir, name)))[0]?.record.seq ?? 0) as number;
    const pick = (i: number) => segments.at(i) as string;
    const [oldest, unreadable, missing, newest] = [pick(5), pick(10), pick(15), pick(-1)];
    const newestFrames = await frames(join(journalDir, newest));
    expect(newestFrames.length).toBeGreaterThanOrEqual(2);
    const expected = [
      { cause: 'corrupt', seq: await flipByteOfRecord(join(journalDir, oldest), 3) },
      {
        cause: 'unreadable',
        from: await firstOf(unreadable),
        to: (await firstOf(pick(11))) - 1,
      },
      { cause: 'missing', from: await firstOf(missing), to: (await firstOf(pick(16))) - 1 },
      // The first record of the newest segment: whole records follow it, so it is no torn tail.
      { cause: 'corrupt', seq: await flipByteOfRecord(join(journalDir, newest), 0) },
    ].map((e) => ({ cause: e.cause, firstSeq: e.seq ?? e.from, lastSeq: e.seq ?? e.to }));
    const rotten = (await frames(join(journalDir, unreadable)))[2]?.record.hash as string;
    await rm(join(journalDir, missing));
    await disk?.rot(`"hash":"${rotten}"`);
    await expect(readFile(join(journalDir, unreadable))).rejects.toMatchObject({ code: 'EIO' });

    // Back on, the network still down: the gateway process starts and the gate decides at once.
    const startedAt = performance.now();
    const gateway = await startGateway(false);
    (gateway.process.stdin as NodeJS.WritableStream).write(
      tap(VALID.credential.uid as string) + tap(LOST.credential.uid as string),
    );
    const decided = await until(
      () => {
        const decisions = gateway.lines.filter((l) => l.msg === 'tap');
        return decisions.length === 2 ? decisions : undefined;
      },
      { what: 'the two taps decided', timeoutMs: 30_000 },
    );
    const decidedMs = performance.now() - startedAt;
    // From the gateway's start (its first log line: Node has loaded it) to its second decision, printed
    // for the reader; how fast is the benchmark gateway.recovery.damaged_start_ms, not a bound here.
    const startMs = (decided[1]?.time as number) - (gateway.lines[0]?.time as number);
    process.stdout.write(
      `damaged journal: both taps decided ${startMs} ms after the gateway began to start (${decidedMs.toFixed(0)} ms after the process was spawned, Node's loading included)\n`,
    );
    expect(decided.map((l) => [l.decision, l.reason])).toEqual([
      ['grant', 'ok'],
      ['deny', 'lost'],
    ]);
    const damageLines = gateway.lines.filter((l) => String(l.msg).startsWith('journal damage:'));
    expect(damageLines.map((l) => ({ cause: l.cause, firstSeq: l.firstSeq, lastSeq: l.lastSeq }))).toEqual(
      expected,
    );
    const quarantined = (await readdir(join(journalDir, 'quarantine'))).filter(
      (n) => !n.endsWith('.why.json'),
    );
    expect(quarantined.map((n) => n.slice(0, 20)).sort()).toEqual([oldest, unreadable, newest].sort());

    await stop(gateway);

    // The technician's view: every break explained, so the journal verifies, listing the losses.
    const verify = await runCommand(EDUCARD, [
      'journal',
      'verify',
      '--json',
      '--config',
      join(dir, 'gateway-alone.json'),
    ]);
    expect(verify.code).toBe(0);
    expect(verify.json()).toMatchObject({
      ok: true,
      losses: expected.map((e) => expect.objectContaining(e)),
    });

    // The network back: everything reaches the bridge, the losses as facts confirmed by the records
    // that explain them.
    const online = await startGateway(true);
    const store = bridge?.store as Bridge['store'];
    await until(() => store.queryEvents({ device: DEVICE, personId: LOST.personId, limit: 1 }).length === 1, {
      what: 'the taps after the restart at the bridge',
      timeoutMs: 30_000,
    });
    const losses = store.journalLosses({ device: DEVICE, limit: 10 }).reverse();
    expect(losses).toEqual(
      expected.map((e) =>
        expect.objectContaining({
          ...e,
          records: e.lastSeq - e.firstSeq + 1,
          missing: e.lastSeq - e.firstSeq + 1,
          confirmedAt: expect.any(String),
        }),
      ),
    );
    expect(delivered).toBeLessThan(expected[0]?.firstSeq as number);
    // Never asked for: no gap was seen, each break was declared by the batch after it.
    expect(bridge?.ingest.stats).toMatchObject({ gaps: 0, losses: 4, rejected: 0 });
    const seqs = store.queryEvents({ device: DEVICE, limit: 10_000 }).map((e) => e.record.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    for (const loss of expected)
      expect(seqs.filter((s) => s >= loss.firstSeq && s <= loss.lastSeq)).toEqual([]);

    const alarms = (await admin(bridge?.httpUrl as string, '/v1/ops/alarms?open=true')).alarms as {
      kind: string;
      device: string;
      count: number;
    }[];
    expect(alarms.find((a) => a.kind === 'journal.damaged')).toMatchObject({ device: DEVICE, count: 4 });
    const missingTotal = expected.reduce((sum, e) => sum + e.lastSeq - e.firstSeq + 1, 0);
    expect((await admin(bridge?.httpUrl as string, '/v1/central/status')).journalLosses).toMatchObject({
      losses: 4,
      missing: missingTotal,
    });
    expect((await admin(bridge?.httpUrl as string, `/v1/ops/losses?device=${DEVICE}`)).losses).toHaveLength(
      4,
    );
    await stop(online);
  }, 240_000);
});
