import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventBody } from '@educard/terminal-sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import { Journal, type JournalOptions } from './index.js';

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

  it('group-commits: a thousand appends in one turn take a handful of fsyncs', async () => {
    const journal = await openJournal();
    await appendMany(journal, 1, 1000);
    expect(journal.stats().commits).toBeLessThan(10);
    expect(journal.stats().durableSeq).toBe(1000);
    await journal.close();
  });

  it('refuses to open over a record altered at rest in the newest segment', async () => {
    const journal = await openJournal({ segmentBytes: 1024 * 1024 });
    await appendMany(journal, 1, 20);
    await journal.close();
    const [segment] = await readdir(dir).then((names) => names.filter((n) => n.startsWith('seg-')));
    const path = join(dir, segment as string);
    const bytes = await readFile(path);
    const text = bytes.toString('latin1').replace('"cardId":"E7"', '"cardId":"E9"');
    await writeFile(path, Buffer.from(text, 'latin1'));
    // Whole records follow the damaged one: cutting there would lose accepted events, so it refuses.
    await expect(openJournal()).rejects.toThrow(
      /corrupt at byte \d+ \(checksum mismatch\), with records after it/,
    );
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

  it('refuses to open when an older segment is corrupt: that is history, not a torn write', async () => {
    const journal = await openJournal({ segmentBytes: 4096 });
    await appendMany(journal, 1, 40);
    await journal.close();
    const segments = (await readdir(dir)).filter((n) => n.startsWith('seg-')).sort();
    expect(segments.length).toBeGreaterThan(2);
    const path = join(dir, segments[0] as string);
    const bytes = await readFile(path);
    bytes[20] = (bytes[20] ?? 0) ^ 0xff;
    await writeFile(path, bytes);
    await expect(openJournal()).rejects.toThrow(/corrupt at byte 0 \(checksum mismatch\)/);
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
