import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from '@educard/gateway/journal';
import { createLogger } from '@educard/gateway/log';
import { sampleUid } from '@educard/terminal-sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exited, startNode } from '../support/processes.js';

const CYCLES = 20;
const TAPS_PER_BURST = 400;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crash-'));
  const config = {
    device: { id: 'gate-crash', school: 'school-1' },
    dataDir: join(dir, 'data'),
    station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
    readers: { driver: 'simulated', simulated: ['sim-in', 'sim-out'], script: '-' },
    io: { plugin: 'recording' },
    journal: { segmentBytes: 64 * 1024 },
    log: { level: 'debug' },
  };
  await writeFile(join(dir, 'gateway.json'), JSON.stringify(config));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function burst(cycle: number): string {
  const lines: string[] = [];
  for (let i = 0; i < TAPS_PER_BURST; i++) {
    const reader = i % 2 ? 'sim-out' : 'sim-in';
    lines.push(JSON.stringify({ action: 'present', reader, card: { uid: sampleUid(cycle * TAPS_PER_BURST + i) } }));
  }
  return `${lines.join('\n')}\n`;
}

async function openJournal() {
  return Journal.open({ dir: join(dir, 'data', 'journal'), device: 'gate-crash', logger: createLogger('check', { level: 'silent' }) });
}

describe('a gateway killed with SIGKILL during a burst of taps', () => {
  it(`keeps every durable event, with no gap and no repeat, over ${CYCLES} kill and restart cycles`, async () => {
    let lastSeqBefore = 0;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const child = startNode('gateway/dist/main.js', ['--config', join(dir, 'gateway.json')]);
      await child.waitFor((line) => line.msg === 'gateway started');
      child.process.stdin?.write(burst(cycle));
      // Kill at a random point: before the first tap is durable, mid-burst, or after it.
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 120)));
      child.process.kill('SIGKILL');
      await exited(child.process);

      const durable = child.lines.filter((line) => line.msg === 'tap durable').map((line) => line.seq as number);
      const maxDurable = Math.max(0, ...durable);
      const journal = await openJournal();
      const stats = journal.stats();
      // Everything the gateway had reported durable is there after the kill.
      expect(stats.lastSeq).toBeGreaterThanOrEqual(maxDurable);
      // Sequence numbers continue from the previous run: the restart's own start event is next.
      expect(stats.lastSeq).toBeGreaterThan(lastSeqBefore);
      const records = await journal.read(lastSeqBefore + 1, 1_000_000);
      expect(records[0]?.seq).toBe(lastSeqBefore + 1);
      expect(records[0]?.type).toBe('gateway.started');
      records.forEach((record, i) => expect(record.seq).toBe(lastSeqBefore + 1 + i));
      lastSeqBefore = stats.lastSeq;
      await journal.close();
    }
    const journal = await openJournal();
    expect(await journal.verify()).toEqual({ ok: true, records: lastSeqBefore });
    const all = await journal.read(1, 1_000_000);
    expect(new Set(all.map((r) => r.seq)).size).toBe(all.length);
    expect(all.filter((r) => r.type === 'gateway.started')).toHaveLength(CYCLES);
    expect(all.filter((r) => r.type === 'gate.decision').length).toBeGreaterThan(CYCLES);
    await journal.close();
  }, 180_000);
});
