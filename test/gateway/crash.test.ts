import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATEWAY_NODE_FLAGS } from '@educard/gateway';
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

/** A burst of taps written in chunks over ~200 ms, so that a kill can land anywhere in it. */
async function burst(stdin: NodeJS.WritableStream, cycle: number): Promise<void> {
  const chunk = TAPS_PER_BURST / 20;
  for (let start = 0; start < TAPS_PER_BURST; start += chunk) {
    const lines: string[] = [];
    for (let i = start; i < start + chunk; i++) {
      const reader = i % 2 ? 'sim-out' : 'sim-in';
      lines.push(
        JSON.stringify({ action: 'present', reader, card: { uid: sampleUid(cycle * TAPS_PER_BURST + i) } }),
      );
    }
    if (!stdin.write(`${lines.join('\n')}\n`)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function openJournal() {
  return Journal.open({
    dir: join(dir, 'data', 'journal'),
    device: 'gate-crash',
    logger: createLogger('check', { level: 'silent' }),
  });
}

describe('a gateway killed with SIGKILL during a burst of taps', () => {
  it(`keeps every durable event, with no gap and no repeat, over ${CYCLES} kill and restart cycles`, async () => {
    let lastSeqBefore = 0;
    let killedMidBurst = 0;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const child = startNode('gateway/dist/main.js', ['--config', join(dir, 'gateway.json')], {
        nodeFlags: GATEWAY_NODE_FLAGS,
      });
      await child.waitFor((line) => line.msg === 'gateway started');
      const stdin = child.process.stdin as NodeJS.WritableStream;
      stdin.on('error', () => undefined);
      const feeding = burst(stdin, cycle);
      // Kill at a random point: before the first tap is durable, mid-burst, or after it.
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 250)));
      child.process.kill('SIGKILL');
      await feeding;
      await exited(child.process);

      const durable = child.lines
        .filter((line) => line.msg === 'tap durable')
        .map((line) => line.seq as number);
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
      expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => lastSeqBefore + 1 + i));
      const taps = records.filter((r) => r.type === 'gate.decision').length;
      if (taps > 0 && taps < TAPS_PER_BURST) killedMidBurst += 1;
      lastSeqBefore = stats.lastSeq;
      await journal.close();
    }
    // The kills must land inside bursts, or the test would prove nothing about them.
    expect(killedMidBurst).toBeGreaterThanOrEqual(CYCLES / 4);
    const journal = await openJournal();
    expect(await journal.verify()).toEqual({ ok: true, records: lastSeqBefore });
    const all = await journal.read(1, 1_000_000);
    expect(new Set(all.map((r) => r.seq)).size).toBe(all.length);
    expect(all.filter((r) => r.type === 'gateway.started')).toHaveLength(CYCLES);
    expect(all.filter((r) => r.type === 'gate.decision').length).toBeGreaterThan(CYCLES);
    await journal.close();
  }, 180_000);
});
