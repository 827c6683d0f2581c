import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BEEPS,
  type BeepName,
  createLogger,
  Gateway,
  maskCardId,
  parseConfig,
  type RecordingIO,
  RosterStore,
  recordingIoFor,
  type SimulatedReaderDriver,
  type TapOutcome,
} from '@educard/gateway';
import { TestAuthority } from '@educard/terminal-sdk/testing';
import { REPO_ROOT } from '../paths.js';
import { type Actor, CAST, ROSTER } from './cast.js';
import { demoKeys } from './keys.js';

const DATA = join(REPO_ROOT, '.demo-data');
const PINS = { relay: 4, greenLed: 5, redLed: 6, buzzer: 7, doorContact: 8, exitButton: 9 };
/** The demo runs on its own clock: Monday 23 November 2026, 07:40 in Shanghai, a school morning. */
const START = Date.parse('2026-11-23T07:40:00+08:00');

interface Step {
  at: string;
  reader: 'gate-in' | 'gate-out';
  who: Actor;
  note: string;
}

const STEPS: Step[] = [
  { at: '07:40:05', reader: 'gate-in', who: CAST.wangWei, note: 'student, UID card' },
  { at: '07:40:20', reader: 'gate-in', who: CAST.liFang, note: 'student, EDU CPU card signs a challenge' },
  { at: '07:41:00', reader: 'gate-in', who: CAST.zhangMin, note: 'card reported lost' },
  { at: '07:41:30', reader: 'gate-in', who: CAST.liuJing, note: 'card validity ended in July' },
  { at: '07:42:00', reader: 'gate-in', who: CAST.chenLei, note: 'card valid for the library only' },
  { at: '07:42:30', reader: 'gate-in', who: CAST.yangYan, note: 'boarder: night schedule ended 07:30' },
  { at: '07:43:00', reader: 'gate-in', who: CAST.stranger, note: 'card not on the roster' },
  { at: '07:43:30', reader: 'gate-in', who: CAST.cloner, note: 'copied UID of a CPU card' },
  { at: '07:44:00', reader: 'gate-in', who: CAST.wangWei, note: 'enters again without leaving' },
  { at: '07:45:00', reader: 'gate-out', who: CAST.wangWei, note: 'leaves' },
  { at: '07:45:02', reader: 'gate-out', who: CAST.wangWei, note: 'card held on the reader again' },
  { at: '07:46:00', reader: 'gate-in', who: CAST.zhouBo, note: 'teacher, no time limits' },
];

const simTime = (hms: string) => Date.parse(`2026-11-23T${hms}+08:00`);
const COLUMNS = [8, 8, 12, 20, 6, 16, 30];
const row = (cells: string[]) =>
  cells
    .map((c, i) => c.padEnd(COLUMNS[i] ?? 10))
    .join(' ')
    .trimEnd();

function beepName(count: number): BeepName | undefined {
  return (Object.keys(BEEPS) as BeepName[]).find((name) => BEEPS[name].length === count);
}

/** What the gate did, read back from the recorded pin writes. */
function actions(io: RecordingIO, since: number, pulseMs: number): string {
  const done: string[] = [];
  if (io.writesTo(PINS.relay, since).some((w) => w.value === 1)) done.push(`relay ${pulseMs / 1000} s`);
  if (io.writesTo(PINS.greenLed, since).some((w) => w.value === 1)) done.push('green');
  if (io.writesTo(PINS.redLed, since).some((w) => w.value === 1)) done.push('red');
  const beeps = io.writesTo(PINS.buzzer, since).filter((w) => w.value === 1).length;
  if (beeps) done.push(`${beepName(beeps) ?? 'beep'} beep ×${beeps}`);
  return done.join(', ') || '-';
}

async function main(): Promise<number> {
  const keys = await demoKeys(join(DATA, 'keys.json'));
  const dataDir = join(DATA, 'gateway');
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(join(dataDir, 'roster'), { recursive: true });

  let now = START;
  const logPath = join(DATA, 'gateway.log');
  const logger = createLogger('gateway', { level: 'info', destination: createWriteStream(logPath) });
  const authority = new TestAuthority('school-1', keys);
  await RosterStore.writeAnchor(join(dataDir, 'roster'), authority.anchor());
  const config = parseConfig({
    device: { id: 'demo-gate', school: 'school-1' },
    dataDir,
    station: { id: 'gate-main', zone: 'main-gate', debounceMs: 3000 },
    readers: { simulated: ['gate-in', 'gate-out'] },
    io: { plugin: 'recording', pins: PINS, relay: { pulseMs: 1000 }, door: { graceMs: 0 } },
    policy: { passback: { mode: 'hard', windowMs: 4 * 3_600_000 } },
  });
  const io = recordingIoFor(config.io);
  const gateway = await Gateway.start({ config, logger, io, now: () => now, synced: () => true });
  await gateway.roster.acceptKeySet(authority.keySet());
  const roster = authority.snapshot(1, ROSTER, {
    issuedAt: new Date(START - 86_400_000).toISOString(),
    expiresAt: new Date(START + 30 * 86_400_000).toISOString(),
  });
  await gateway.acceptRoster(roster.manifest, roster.body);

  process.stdout.write(
    `educard-edge demo: one gate, two simulated readers (gate-in, gate-out), a recording IO board.\n` +
      `Roster v${gateway.roster.view?.version} signed by the demo key set (${keys.made ? 'made now' : 'kept from an earlier run'} in .demo-data/keys.json): ${gateway.roster.view?.size} cards.\n` +
      `School clock: Monday 23 November 2026, Asia/Shanghai. Anti-passback: hard.\n\n`,
  );
  process.stdout.write(`${row(['time', 'reader', 'card', 'person', 'result', 'reason', 'gate action'])}\n`);
  process.stdout.write(`${row(COLUMNS.map((w) => '-'.repeat(w)))}\n`);

  const driver = gateway.readers as SimulatedReaderDriver;
  let last: TapOutcome | undefined;
  gateway.station.events.on('tap', (outcome) => {
    last = outcome;
  });
  const counts = { grant: 0, deny: 0, ignored: 0 };
  for (const step of STEPS) {
    now = simTime(step.at);
    last = undefined;
    const mark = io.writes.length;
    driver.present(step.reader, step.who.card);
    driver.remove(step.reader);
    await sleep(450);
    const outcome = last as TapOutcome | undefined;
    const card = maskCardId(step.who.card.cpu?.cardNumber ?? step.who.card.uid);
    if (!outcome) {
      counts.ignored += 1;
      process.stdout.write(
        `${row([step.at, step.reader, card, step.who.name, '-', 'same card < 3 s', 'none (debounced)'])}\n`,
      );
      continue;
    }
    counts[outcome.decision.decision] += 1;
    const { decision } = outcome;
    const reason = [decision.reason, ...decision.flags.filter((f) => f !== 'uid-only')].join(' ');
    process.stdout.write(
      `${row([step.at, step.reader, card, step.who.name, decision.decision.toUpperCase(), reason, actions(io, mark, config.io.relay.pulseMs)])}\n`,
    );
  }

  now = simTime('07:50:00');
  // The last grant's pulse must be over, or the door opening now would be that grant's.
  await sleep(config.io.relay.pulseMs);
  const mark = io.writes.length;
  io.setInput(PINS.doorContact, 1);
  const alarmMs = BEEPS.alarm.reduce((sum, [on, off]) => sum + on + off, 0);
  await sleep(alarmMs + 100);
  io.setInput(PINS.doorContact, 0);
  process.stdout.write(
    `${row(['07:50:00', 'door', '-', '-', 'ALARM', 'door forced open', actions(io, mark, 0)])}\n`,
  );

  await gateway.journal.flush();
  const check = await gateway.journal.verify();
  const stats = gateway.journal.stats();
  const records = await gateway.journal.read(1, stats.lastSeq);
  await gateway.stop();
  const types = records.reduce<Record<string, number>>((tally, r) => {
    tally[r.type] = (tally[r.type] ?? 0) + 1;
    return tally;
  }, {});
  process.stdout.write(
    `\n${counts.grant} granted, ${counts.deny} denied, ${counts.ignored} repeat ignored.\n` +
      `Journal: ${stats.lastSeq} events (${Object.entries(types)
        .map(([type, n]) => `${n} ${type}`)
        .join(', ')}), durable, ` +
      `hash chain ${check.ok ? 'verified' : `BROKEN at ${(check as { seq: number }).seq}`}; in ${join(dataDir, 'journal')}.\n` +
      `Gateway log (JSON lines): ${logPath}\n`,
  );
  return check.ok && counts.grant === 4 && counts.deny === 7 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`demo failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
