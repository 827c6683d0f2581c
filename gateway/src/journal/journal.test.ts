import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventBody } from '@educard/terminal-sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import { Journal, type JournalOptions, MIN_FRAME_BYTES } from './index.js';

let dir: string;
let lines: string[];
const logger = () =>
  createLogger('journal-test', {
    level: 'debug',
    destination: { write: (line: string) => lines.push(line) } as never,
  });

function tap(n: number): EventBody {
  return {
    type: 'gate.decision',
    at: new Date(Date.UTC(2026, 10, 23, 0, 0, n)).toISOString(),
    clock: 'synced',
    data: {
      station: 'gate-main',
      reader: 'sim-in',
      zone: 'main-gate',
      direction: 'in',
      cardId: `E${n}`,
      credential: 'uid',
      decision: 'grant',
      reason: 'ok',
      flags: [],
      rosterVersion: 1,
    },
  };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const segmentNames = async () => (await readdir(dir)).filter((n) => /^seg-\d{12}\.log$/.test(n)).sort();

const openJournal = (options: Partial<JournalOptions> = {}) =>
  Journal.open({ dir, device: 'gate-01', logger: logger(), minFreeBytes: 0, ...options });

async function appendMany(journal: Journal, from: number, count: number) {
  for (let i = 0; i < count; i++) journal.append(tap(from + i));
  await journal.flush();
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'journal-'));
  lines = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('journal', () => {
  it('appends without waiting, numbers from 1, chains each record to the one before, and reads back in order', async () => {
    const journal = await openJournal();
    const first = journal.append(tap(1));
    const second = journal.append(tap(2));
    expect([first.seq, second.seq]).toEqual([1, 2]);
    expect(first.prev).toBe('0'.repeat(64));
    expect(second.prev).toBe(first.hash);
    expect(await journal.read(1, 10)).toEqual([]);
    await journal.durable(second.seq);
    expect(await journal.read(1, 10)).toEqual([first, second]);
    expect(await journal.read(2, 10)).toEqual([second]);
    await journal.close();
  });

  it('continues the sequence and the chain after a restart', async () => {
    const journal = await openJournal();
    await appendMany(journal, 1, 5);
    const tip = journal.stats().lastHash;
    await journal.close();
    const reopened = await openJournal();
    const next = reopened.append(tap(6));
    expect(next.seq).toBe(6);
    expect(next.prev).toBe(tip);
    expect(await reopened.verify()).toEqual({ ok: true, records: 6 });
    await reopened.close();
  });

  it('drops nothing of a burst larger than its bound while the disk takes writes', async () => {
    const journal = await openJournal({ maxHeldRecords: 100 });
    await appendMany(journal, 1, 1000);
    expect(journal.stats()).toMatchObject({ durableSeq: 1000, held: 0, lost: 0 });
    expect((await journal.read(1, 2000)).map((r) => r.seq)).toEqual(range(1, 1000));
    await journal.close();
  });

  it('group-commits: a thousand appends in one turn take a handful of fsyncs', async () => {
    const journal = await openJournal();
    await appendMany(journal, 1, 1000);
    expect(journal.stats().commits).toBeLessThan(10);
    expect(journal.stats().durableSeq).toBe(1000);
    await journal.close();
  });

  it('quarantines a newest segment damaged in the middle, keeps what is whole on both sides, and explains the loss', async () => {
    const journal = await openJournal({ segmentBytes: 1024 * 1024 });
    await appendMany(journal, 1, 20);
    await journal.close();
    const path = join(dir, 'seg-000000000001.log');
    const bytes = await readFile(path);
    await writeFile(
      path,
      Buffer.from(bytes.toString('latin1').replace('"cardId":"E7"', '"cardId":"E9"'), 'latin1'),
    );

    const reopened = await openJournal();
    await reopened.flush();
    expect(await segmentNames()).toEqual(['seg-000000000001.log', 'seg-000000000008.log']);
    const [quarantined] = await readdir(join(dir, 'quarantine'));
    expect(quarantined).toMatch(/^seg-000000000001\.log\.\d{8}T\d{6}Z$/);
    expect(
      (await readFile(join(dir, 'quarantine', quarantined as string))).equals(await readFile(path)),
    ).toBe(false);
    const damaged = (await reopened.read(1, 100)).concat(await reopened.read(7, 100));
    expect(damaged.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, ...range(8, 21)]);
    const explanation = damaged.at(-1);
    expect(explanation).toMatchObject({
      seq: 21,
      type: 'journal.damaged',
      data: { cause: 'corrupt', firstSeq: 7, lastSeq: 7, records: 1, resumeHash: damaged[6]?.prev },
    });
    expect(reopened.lossBefore(8)).toEqual({ firstSeq: 7, lastSeq: 7, cause: 'corrupt', damagedSeq: 21 });
    expect(reopened.stats()).toMatchObject({
      lastSeq: 21,
      quarantined: [expect.stringMatching(/^quarantine\//)],
    });
    expect(await reopened.verify()).toEqual({ ok: true, records: 20 });
    expect(lines.some((l) => l.includes('journal damage: records 7 to 7 lost'))).toBe(true);
    await reopened.close();

    // Explained once: a restart finds the break on record and journals nothing more.
    const again = await openJournal();
    expect(again.stats().lastSeq).toBe(21);
    expect(again.append(tap(22)).seq).toBe(22);
    await again.close();
  });

  it('detects a record whose hash does not match, though its frame is whole', async () => {
    const journal = await openJournal();
    await appendMany(journal, 1, 3);
    await journal.close();
    const { encodeFrame } = await import('./frame.js');
    const [segment] = (await readdir(dir)).filter((n) => n.startsWith('seg-'));
    const path = join(dir, segment as string);
    const records = (await readFile(path)).toString('utf8');
    const forged = JSON.parse(records.slice(records.lastIndexOf('{"at"')));
    forged.seq = 4;
    forged.data.cardId = 'FORGED';
    await appendFile(path, encodeFrame(Buffer.from(JSON.stringify(forged))));
    const reopened = await openJournal();
    expect(await reopened.verify()).toEqual({ ok: false, seq: 4, problem: 'prev' });
    await reopened.close();
  });

  it('truncates a torn tail on start with a log line, and appends on with no gap', async () => {
    const journal = await openJournal();
    await appendMany(journal, 1, 10);
    await journal.close();
    const [segment] = (await readdir(dir)).filter((n) => n.startsWith('seg-'));
    const path = join(dir, segment as string);
    const whole = (await readFile(path)).length;
    await appendFile(path, Buffer.from([0x40, 0, 0, 0, 1, 2, 3, 4, 0x7b, 0x22]));
    const reopened = await openJournal();
    const line = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'journal torn tail truncated');
    expect(line).toMatchObject({ offset: whole, droppedBytes: 10, reason: 'partial record' });
    expect(reopened.stats().recoveredBytes).toBe(10);
    expect(reopened.append(tap(11)).seq).toBe(11);
    expect(await reopened.verify()).toEqual({ ok: true, records: 11 });
    await reopened.close();
  });

  it('goes on past an older segment damaged at its first record, unreadable, or missing', async () => {
    const journal = await openJournal({ segmentBytes: 4096 });
    await appendMany(journal, 1, 60);
    await journal.close();
    const names = await segmentNames();
    expect(names.length).toBeGreaterThan(4);
    const [first, second, third, fourth, fifth] = names as [string, string, string, string, string];
    const bytes = await readFile(join(dir, first));
    bytes[20] = (bytes[20] ?? 0) ^ 0xff;
    await writeFile(join(dir, first), bytes);
    // Unreadable: a read of it fails (here EISDIR; on a failing card, EIO).
    await rm(join(dir, second));
    await mkdir(join(dir, second));
    await rm(join(dir, fourth));

    const reopened = await openJournal({ segmentBytes: 4096 });
    await reopened.flush();
    const seqOf = (name: string) => Number(name.slice(4, 16));
    const losses = (await reopened.read(seqOf(fifth), 1000))
      .filter((r) => r.type === 'journal.damaged')
      .map((r) => r.data);
    const quarantined = expect.stringMatching(/^seg-\d{12}\.log\.\d{8}T\d{6}Z$/);
    expect(losses).toEqual([
      expect.objectContaining({ cause: 'corrupt', firstSeq: 1, lastSeq: 1, records: 1, file: quarantined }),
      expect.objectContaining({
        cause: 'unreadable',
        firstSeq: seqOf(second),
        lastSeq: seqOf(third) - 1,
        file: quarantined,
      }),
      expect.objectContaining({ cause: 'missing', firstSeq: seqOf(fourth), lastSeq: seqOf(fifth) - 1 }),
    ]);
    // A read from the start begins after the lost record 1 and stops before the next loss.
    const kept = await reopened.read(1, 1000);
    expect([kept[0]?.seq, kept.at(-1)?.seq]).toEqual([2, seqOf(second) - 1]);
    expect((await readdir(join(dir, 'quarantine'))).filter((n) => !n.endsWith('.why.json'))).toHaveLength(2);
    expect(await reopened.verify()).toMatchObject({ ok: true });
    expect(reopened.append(tap(100)).seq).toBe(64);
    await reopened.close();
  });

  it('numbers on past what a vanished newest segment may have used', async () => {
    const journal = await openJournal({ segmentBytes: 4096 });
    await appendMany(journal, 1, 40);
    await journal.acknowledge(30);
    await journal.close();
    const names = await segmentNames();
    await rm(join(dir, names.at(-1) as string));
    const newest = Number((names.at(-1) as string).slice(4, 16));

    const reopened = await openJournal({ segmentBytes: 4096 });
    await reopened.flush();
    const [explanation] = await reopened.read(newest, 10);
    // The segment held at most 4096 / 128 records: numbering goes on after all of them.
    expect(explanation).toMatchObject({
      seq: newest + 4096 / MIN_FRAME_BYTES,
      type: 'journal.damaged',
      data: { cause: 'missing', firstSeq: newest, lastSeq: newest + 4096 / MIN_FRAME_BYTES - 1, bound: true },
    });
    expect(reopened.lossBefore(explanation?.seq as number)).toMatchObject({ firstSeq: newest, bound: true });
    await reopened.close();
  });

  it('reports a segment damaged while it runs, and leaves it to the next start', async () => {
    const journal = await openJournal({ segmentBytes: 4096 });
    await appendMany(journal, 1, 40);
    const [first] = await segmentNames();
    const bytes = await readFile(join(dir, first as string));
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0xff;
    await writeFile(join(dir, first as string), bytes);
    await expect(journal.read(1, 100)).rejects.toThrow(
      /is damaged at record \d+: the gateway quarantines it at its next start/,
    );
    expect(journal.stats().damagedNow).toMatch(/^seg-000000000001\.log is damaged at record \d+$/);
    await journal.close();
    const reopened = await openJournal({ segmentBytes: 4096 });
    expect(reopened.stats()).toMatchObject({ damagedNow: undefined, quarantined: [expect.any(String)] });
    await reopened.close();
  });

  it('rebuilds a damaged cursor from the oldest segment kept, and keeps the damaged one aside', async () => {
    const journal = await openJournal({ segmentBytes: 4096 });
    await appendMany(journal, 1, 40);
    await journal.acknowledge(25);
    await journal.close();
    await writeFile(join(dir, 'cursor.json'), '{"acked":{"seq":2');
    const oldest = Number(((await segmentNames())[0] as string).slice(4, 16));

    const reopened = await openJournal({ segmentBytes: 4096 });
    expect(reopened.stats()).toMatchObject({
      ackedSeq: oldest - 1,
      lastSeq: 40,
      notes: [expect.stringContaining('cursor.json not JSON')],
      quarantined: [expect.stringMatching(/^quarantine\/cursor\.json\./)],
    });
    expect(JSON.parse(await readFile(join(dir, 'cursor.json'), 'utf8')).acked.seq).toBe(oldest - 1);
    await reopened.close();
  });

  it('rotates segments and deletes only those wholly acknowledged, never the newest', async () => {
    const journal = await openJournal({ segmentBytes: 4096 });
    await appendMany(journal, 1, 60);
    const before = journal.stats().segments;
    expect(before).toBeGreaterThan(3);
    await journal.acknowledge(30);
    const stats = journal.stats();
    expect(stats.ackedSeq).toBe(30);
    expect(stats.backlog).toBe(30);
    expect(stats.segments).toBeLessThan(before);
    expect((await journal.read(1, 100))[0]?.seq).toBeLessThanOrEqual(31);
    expect(await journal.verify()).toMatchObject({ ok: true });
    await journal.acknowledge(10);
    expect(journal.stats().ackedSeq).toBe(30);
    await expect(journal.acknowledge(61)).rejects.toThrow(/durable up to 60/);
    await journal.acknowledge(60);
    expect(journal.stats().segments).toBe(1);
    expect(journal.stats().backlog).toBe(0);
    await journal.close();
    const reopened = await openJournal({ segmentBytes: 4096 });
    expect(reopened.stats().ackedSeq).toBe(60);
    expect(reopened.append(tap(61)).seq).toBe(61);
    expect(await reopened.verify()).toMatchObject({ ok: true });
    await reopened.close();
  });

  it('finishes an acknowledgement taken before its close, and writes nothing after it', async () => {
    const journal = await openJournal();
    await appendMany(journal, 1, 5);
    await journal.acknowledge(2);
    const taken = journal.acknowledge(4);
    await journal.close();
    await taken;
    const [names, cursor] = [await readdir(dir), await readFile(join(dir, 'cursor.json'), 'utf8')];
    // The bridge holds 5 and says so once more after the restart; the resend in between is deduplicated.
    await journal.acknowledge(5);
    expect(await readdir(dir)).toEqual(names);
    expect(await readFile(join(dir, 'cursor.json'), 'utf8')).toBe(cursor);
    const reopened = await openJournal();
    expect(reopened.stats().ackedSeq).toBe(4);
    await reopened.close();
  });

  it('reads the right records when reads race each other and the appends', async () => {
    const journal = await openJournal({ segmentBytes: 8192 });
    const reads: Promise<void>[] = [];
    for (let round = 0; round < 20; round++) {
      await appendMany(journal, round * 25 + 1, 25);
      for (const from of [1, round * 25 + 1, round * 12 + 3]) {
        reads.push(
          journal.read(from, 40).then((records) => {
            expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => from + i));
            expect(records.length).toBe(Math.min(40, (round + 1) * 25 - from + 1));
          }),
        );
      }
    }
    await Promise.all(reads);
    await journal.close();
  });

  it('tells when the oldest unacknowledged event happened', async () => {
    const journal = await openJournal();
    expect(journal.stats().oldestUnackedAt).toBeUndefined();
    await appendMany(journal, 1, 3);
    expect(journal.stats().oldestUnackedAt).toBe(tap(1).at);
    await journal.acknowledge(2);
    expect(journal.stats().oldestUnackedAt).toBe(tap(3).at);
    await journal.close();
  });

  it('raises one disk-low alarm when the budget runs low, and drops nothing', async () => {
    const journal = await openJournal({ budgetBytes: 2000 });
    await appendMany(journal, 1, 20);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await appendMany(journal, 21, 20);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await journal.flush();
    const records = await journal.read(1, 1000);
    expect(records.filter((r) => r.type === 'journal.disk-low')).toHaveLength(1);
    expect(records.filter((r) => r.type === 'gate.decision')).toHaveLength(40);
    expect(journal.stats().diskLow).toBe(true);
    expect(lines.some((l) => l.includes('journal disk space low'))).toBe(true);
    await journal.close();
  });
});
