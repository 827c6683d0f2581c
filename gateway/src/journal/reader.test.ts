import { appendFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalString, type EventBody } from '@educard/terminal-sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import { Journal, JournalFollower, JournalReader } from './index.js';

let dir: string;

function exitRequest(n: number): EventBody {
  return {
    type: 'door.exit-request',
    at: new Date(Date.UTC(2026, 10, 23, 0, 0, n)).toISOString(),
    clock: 'synced',
    data: { station: 'gate-main', zone: `zone-${n}` },
  };
}

async function journalWith(count: number, segmentBytes = 4096) {
  const journal = await Journal.open({
    dir,
    device: 'gate-01',
    logger: createLogger('reader-test', { level: 'silent' }),
    segmentBytes,
    minFreeBytes: 0,
  });
  for (let i = 1; i <= count; i++) journal.append(exitRequest(i));
  await journal.flush();
  return journal;
}

/** Every file of the journal directory with its size and modification time. */
async function listing() {
  const names = (await readdir(dir)).sort();
  return Promise.all(
    names.map(async (name) => {
      const s = await stat(join(dir, name));
      return [name, s.size, s.mtimeMs] as const;
    }),
  );
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'journal-reader-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the read-only journal reader', () => {
  it('reads ranges, the last records and the tip across segments, with each record’s bytes as framed', async () => {
    const journal = await journalWith(120);
    const all = await journal.read(1, 1000);
    await journal.close();
    const reader = await JournalReader.open(dir);
    expect(reader.segments().length).toBeGreaterThan(3);
    const range = [...reader.records(30, 75)];
    expect(range.map((s) => s.record)).toEqual(all.slice(29, 75));
    expect(range.every((s) => s.bytes.toString('utf8') === canonicalString(s.record))).toBe(true);
    expect(reader.last(7).map((s) => s.record.seq)).toEqual([114, 115, 116, 117, 118, 119, 120]);
    expect(reader.last(1000)).toHaveLength(120);
    expect(reader.tip()).toEqual({ seq: 120, hash: all.at(-1)?.hash });
  });

  it('checks the chain from the cursor’s base once acknowledged segments are gone, and writes nothing', async () => {
    const journal = await journalWith(120);
    await journal.acknowledge(100);
    await journal.close();
    const before = await listing();
    const reader = await JournalReader.open(dir);
    const first = reader.segments()[0]?.firstSeq as number;
    expect(first).toBeGreaterThan(1);
    const check = await reader.check();
    expect(check).toMatchObject({
      ok: true,
      ackedSeq: 100,
      baseSeq: first - 1,
      firstSeq: first,
      lastSeq: 120,
    });
    expect(check.records).toBe(121 - first);
    expect(reader.tip().seq).toBe(120);
    expect(await listing()).toEqual(before);
  });

  it('reports a torn tail of the newest segment without cutting it off, and names a repeated record', async () => {
    const journal = await journalWith(10, 1024 * 1024);
    await journal.close();
    const [segment] = (await readdir(dir)).filter((name) => name.startsWith('seg-'));
    const path = join(dir, segment as string);
    const whole = await readFile(path);
    await appendFile(path, Buffer.from([0xff, 0x00, 0x00]));
    const reader = await JournalReader.open(dir);
    const torn = await reader.check();
    expect(torn).toMatchObject({
      ok: true,
      records: 10,
      tornTail: { offset: whole.length, bytes: 3, reason: 'partial header' },
    });
    expect((await readFile(path)).length).toBe(whole.length + 3);
    expect([...reader.records()]).toHaveLength(10);

    // The first frame again at the end: whole, its CRC right, but a repeat.
    const firstFrame = whole.subarray(0, 8 + whole.readUInt32LE(0));
    await writeFile(path, Buffer.concat([whole, firstFrame]));
    expect(await reader.check()).toMatchObject({ ok: false, problem: { seq: 1, offset: whole.length } });
  });

  it('follows a journal being written, across a new segment and the deletion of acknowledged ones', async () => {
    const journal = await journalWith(5);
    const follower = new JournalFollower(dir, 3);
    expect(follower.poll().map((s) => s.record.seq)).toEqual([3, 4, 5]);
    expect(follower.poll()).toEqual([]);
    for (let i = 6; i <= 80; i++) journal.append(exitRequest(i));
    await journal.flush();
    const seen = follower.poll();
    expect(seen.map((s) => s.record.seq)).toEqual(Array.from({ length: 75 }, (_, i) => i + 6));
    expect(seen.map((s) => s.record)).toEqual(await journal.read(6, 75));
    const segments = (await readdir(dir)).filter((name) => name.startsWith('seg-')).length;
    await journal.acknowledge(60);
    expect((await readdir(dir)).filter((name) => name.startsWith('seg-')).length).toBeLessThan(segments);
    journal.append(exitRequest(81));
    await journal.flush();
    expect(follower.poll().map((s) => s.record.seq)).toEqual([81]);
    await journal.close();
  });

  it('tells a loss the journal explains from a break nothing explains', async () => {
    const journal = await journalWith(60);
    await journal.close();
    const names = (await readdir(dir)).filter((n) => n.startsWith('seg-')).sort();
    await rm(join(dir, names[2] as string));

    // A gap nothing explains yet (the gateway has not started since): tampering, or damage not yet met.
    const before = await (await JournalReader.open(dir)).check();
    expect(before.ok).toBe(false);
    expect(before.problem?.problem).toMatch(/no journal\.damaged record explains the break/);

    // The gateway's next start explains it: the same gap is now a loss, listed, not a failure.
    const reopened = await journalWith(0);
    await reopened.close();
    const after = await (await JournalReader.open(dir)).check();
    expect(after).toMatchObject({ ok: true, losses: [{ cause: 'missing', records: expect.any(Number) }] });

    // A record altered with its frame made whole again is still found, explanation or none.
    const last = names.at(-1) as string;
    const bytes = await readFile(join(dir, last));
    const length = bytes.readUInt32LE(0);
    const record = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'));
    record.data.zone = 'zone-forged';
    const { encodeFrame } = await import('./frame.js');
    await writeFile(
      join(dir, last),
      Buffer.concat([encodeFrame(Buffer.from(canonicalString(record))), bytes.subarray(8 + length)]),
    );
    const forged = await (await JournalReader.open(dir)).check();
    expect(forged).toMatchObject({ ok: false, problem: { seq: record.seq } });
    expect(forged.problem?.problem).toMatch(/hash does not match its contents/);
  });
});
