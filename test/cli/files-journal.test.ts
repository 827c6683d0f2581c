import { spawn } from 'node:child_process';
import { appendFile, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createLogger, Journal, maskCardId } from '@educard/gateway';
import { until } from '@educard/scripts/support';
import { canonicalString, type EventRecord } from '@educard/terminal-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EDUCARD, educard } from '../support/cli.js';
import { REPO_ROOT } from '../support/processes.js';
import { type Provisioned, provisioned } from './files-fixture.js';

let device: Provisioned;
let journalDir: string;
beforeAll(async () => {
  device = await provisioned();
  journalDir = join(device.dataDir, 'journal');
});
afterAll(async () => {
  await rm(device.dir, { recursive: true, force: true });
});

const taps = () => device.records.filter((r) => r.type === 'gate.decision');
const masked = (record: EventRecord) =>
  typeof record.data.cardId === 'string'
    ? { ...record, data: { ...record.data, cardId: maskCardId(record.data.cardId) } }
    : record;

async function segmentPath(): Promise<string> {
  const [name] = (await readdir(journalDir)).filter((n) => n.startsWith('seg-'));
  return join(journalDir, name as string);
}

/** Where each frame of a segment starts: u32 LE length, u32 CRC, payload. */
function frameOffsets(bytes: Buffer): number[] {
  const offsets: number[] = [];
  for (let offset = 0; offset < bytes.length; offset += 8 + bytes.readUInt32LE(offset)) offsets.push(offset);
  return offsets;
}

describe('educard journal, read from the files', () => {
  it('tail: the last records one line each, card ids masked unless --full-card-ids; --json parses', async () => {
    expect(taps()).toHaveLength(5);
    const last = device.records.slice(-3);
    const text = await educard(device.config, ['journal', 'tail', '-n', '3']);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines.map((line) => Number(line.trim().split(/\s+/)[0]))).toEqual(last.map((r) => r.seq));
    expect(lines[0]).toMatch(
      /^ +\d+ {2}\S+Z {2}gate\.decision {5}DENY unknown-card at sim-in \(in\): card \*+\d{4}$/,
    );
    for (const record of last) expect(text.stdout).not.toContain(record.data.cardId as string);

    const full = await educard(device.config, ['journal', 'tail', '-n', '3', '--full-card-ids']);
    for (const record of last) expect(full.stdout).toContain(`card ${record.data.cardId}`);

    const json = await educard(device.config, ['journal', 'tail', '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(device.records.slice(-20).map(masked));
  });

  it('export: every record exactly as journaled with --full-card-ids, atomically to a file; masked by default', async () => {
    const out = join(device.dir, 'export.jsonl');
    const result = await educard(device.config, [
      'journal',
      'export',
      '--full-card-ids',
      '--out',
      out,
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      out,
      records: device.records.length,
      firstSeq: 1,
      lastSeq: device.records.length,
      fullCardIds: true,
    });
    const text = await readFile(out, 'utf8');
    expect(
      text
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual(device.records);
    // Byte for byte: each line is the canonical JSON the journal framed.
    expect(text).toBe(device.records.map((r) => `${canonicalString(r)}\n`).join(''));
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    expect((await readdir(device.dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);

    const range = await educard(device.config, ['journal', 'export', '--from', '3', '--to', '4']);
    expect(range.code, range.stderr).toBe(0);
    const lines = range.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual(device.records.slice(2, 4).map(masked));
    expect(range.stderr).toContain('exported 2 record(s), 3 to 4');
  });

  it('bad numbers and flags are usage errors (exit 2) with the help pointer', async () => {
    for (const args of [
      ['journal', 'tail', '-n', 'ten'],
      ['journal', 'export', '--from', '5', '--to', '2'],
    ]) {
      const result = await educard(device.config, args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(/error/);
    }
  });

  it('tail --follow prints records as they are journaled', async () => {
    const child = spawn(
      process.execPath,
      [
        join(REPO_ROOT, EDUCARD),
        '--config',
        device.config,
        'journal',
        'tail',
        '-n',
        '1',
        '--follow',
        '--json',
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: EventRecord[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(JSON.parse(line));
    });
    const followed = (count: number) =>
      until(() => lines.length >= count, { what: `journal tail to print ${count} record(s)` });
    const journal = await Journal.open({
      dir: journalDir,
      device: 'gate-01',
      logger: createLogger('test', { level: 'silent' }),
    });
    try {
      await followed(1);
      expect(lines[0]).toEqual(masked(device.records.at(-1) as EventRecord));
      const appended = journal.append({
        type: 'door.exit-request',
        at: new Date().toISOString(),
        clock: 'unsynced',
        data: { station: 'gate-main', zone: 'main-gate' },
      });
      await journal.flush();
      await followed(2);
      expect(lines[1]).toEqual(appended);
    } finally {
      child.kill('SIGINT');
      await journal.close();
    }
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    device.records = [...device.records, lines[1] as EventRecord];
  });

  it('verify: a whole chain passes; a torn tail is reported, not failed; a flipped byte fails naming the record', async () => {
    const ok = await educard(device.config, ['journal', 'verify', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({
      ok: true,
      records: device.records.length,
      firstSeq: 1,
      lastSeq: device.records.length,
      ackedSeq: 0,
    });

    const path = await segmentPath();
    const original = await readFile(path);
    try {
      // A write cut short: half a frame header at the end.
      await appendFile(path, Buffer.from([0x40, 0x00, 0x00, 0x00]));
      const torn = await educard(device.config, ['journal', 'verify']);
      expect(torn.code, torn.stderr).toBe(0);
      expect(torn.stdout).toMatch(/torn tail +seg-\d+\.log: 4 byte\(s\) at byte \d+ \(partial header\)/);
      expect(torn.stdout).toContain('journal verified');

      // One byte changed at rest in the middle of the chain.
      const victim = device.records.find((r) => r.type === 'gate.decision') as EventRecord;
      const bytes = Buffer.from(original);
      const offset = frameOffsets(bytes)[victim.seq - 1] as number;
      const at = offset + 8 + bytes.subarray(offset + 8).indexOf('"gate.decision"') + 2;
      bytes[at] = (bytes[at] as number) ^ 0x01;
      await writeFile(path, bytes);
      const bad = await educard(device.config, ['journal', 'verify']);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toContain(
        `BROKEN at record ${victim.seq}: record ${victim.seq} in ${path.split('/').at(-1)} at byte ${offset} is damaged (checksum mismatch; whole records follow it)`,
      );
      expect(bad.stderr).toContain(`educard journal export --to ${victim.seq - 1}`);
    } finally {
      await writeFile(path, original);
    }
  });
});
