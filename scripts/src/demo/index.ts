import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Bridge, parseBridgeConfig } from '@educard/cloud-bridge';
import { CentralTestServer } from '@educard/cloud-bridge/testing';
import {
  BEEPS,
  type BeepName,
  createLogger,
  Gateway,
  type GatewayConfigInput,
  loadOrCreateIdentity,
  maskCardId,
  parseConfig,
  RECORDING_BOARD_PINS,
  type RecordingIO,
  RosterStore,
  recordingIoFor,
  type SimulatedReaderDriver,
  type StationTapOutcome,
  terminalCredential,
} from '@educard/gateway';
import type { KeyRole, StationTap } from '@educard/terminal-sdk';
import { TerminalClient } from '@educard/terminal-sdk/terminal-client';
import { sampleEduApplet } from '@educard/terminal-sdk/testing';
import { VirtualCard, type VirtualCardOptions } from '@educard/terminal-sdk/virtual-card';
import { pino } from 'pino';
import { REPO_ROOT } from '../paths.js';
import { missingPcscParts, PCSC_APT_COMMAND, type Pcscd, startPcscd, until } from '../support/index.js';
import { type Actor, makeCast } from './cast.js';

const DATA = join(REPO_ROOT, '.demo-data');
const PINS = RECORDING_BOARD_PINS;
/** How long the fire panel's contact must be at rest before the gate locks again (5 s by default). */
const RESTORE_AFTER_MS = 1000;
const ADMIN_TOKEN = 'demo-admin-token-not-for-production';
const CENTRAL_TOKEN = 'demo-central-token-not-for-production';
const PCSC_READER = 'Virtual PCD 00 00';
const COLUMNS = [10, 17, 12, 20, 7, 16, 30];
const row = (cells: string[]) =>
  cells
    .map((c, i) => c.padEnd(COLUMNS[i] ?? 10))
    .join(' ')
    .trimEnd();
const out = (text = '') => process.stdout.write(`${text}\n`);
/** A row of the bridge's own doing, about no card. */
const bridgeRow = (source: string, outcome: string, what: string, detail: string, person = '-') =>
  row(['bridge', source, '-', person, outcome, what, detail]);

interface DemoGate {
  name: string;
  gateway: Gateway;
  io: RecordingIO;
}

function beepName(count: number): BeepName | undefined {
  return (Object.keys(BEEPS) as BeepName[]).find((name) => BEEPS[name].length === count);
}

/** What the gate did, read back from the recorded pin writes. */
function actions(io: RecordingIO, since: number, pulseMs: number | 'held'): string {
  const done: string[] = [];
  if (io.writesTo(PINS.relay, since).some((w) => w.value === 1))
    done.push(pulseMs === 'held' ? 'relay held closed' : `relay ${pulseMs / 1000} s`);
  if (io.writesTo(PINS.greenLed, since).some((w) => w.value === 1)) done.push('green');
  if (io.writesTo(PINS.redLed, since).some((w) => w.value === 1)) done.push('red');
  const beeps = io.writesTo(PINS.buzzer, since).filter((w) => w.value === 1).length;
  if (beeps) done.push(`${beepName(beeps) ?? 'beep'} beep ×${beeps}`);
  return done.join(', ') || '-';
}

async function api(bridge: Bridge, path: string, body?: unknown, contentType = 'application/json') {
  const response = await fetch(`${bridge.httpUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': contentType }),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const json = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** The library desk: a gateway whose station is a library, its catalogue imported at the bridge. */
async function libraryDesk(
  bridge: Bridge,
  anchor: KeyRole,
  logFile: ReturnType<typeof createWriteStream>,
  cast: ReturnType<typeof makeCast>['cast'],
): Promise<DemoGate> {
  const rule = { loanLimit: 2, loanDays: 14, renewals: 1 };
  await api(bridge, '/v1/catalogue/school-1/import', {
    items: [
      { itemId: '9787020002207', title: 'Dream of the Red Chamber', callNumber: 'I242.4/C32' },
      { itemId: '9787020008735', title: 'Journey to the West', callNumber: 'I242.4/W67' },
      { itemId: '9787020008742', title: 'Water Margin', callNumber: 'I242.4/S56' },
    ],
    rules: { student: rule, teacher: { ...rule, loanLimit: 10 }, staff: { ...rule, loanLimit: 10 } },
  });
  const desk = terminalCredential('desk-1', ['library-main']);
  const gate = await startGate(
    bridge,
    'library-main',
    { simulated: ['desk'], bindings: [{ pattern: '^desk$', direction: 'in' }] },
    anchor,
    logFile,
    {
      station: { type: 'library', id: 'library-main', zone: 'library', debounceMs: 0 },
      terminals: { host: '127.0.0.1', port: 0, wsPort: false, terminals: [desk.entry] },
      pages: { host: '127.0.0.1', port: 0 },
    },
  );
  await until(() => (gate.gateway.localState().catalogueVersion ?? 0) > 0);
  const client = await TerminalClient.connect({
    url: `mqtt://127.0.0.1:${gate.gateway.terminalPorts.tcp}`,
    terminal: 'desk-1',
    password: desk.password,
    station: 'library-main',
  });
  const taps: StationTap[] = [];
  client.onTap((tap) => taps.push(tap));
  const show = (who: Actor, what: string, result: string, reason: string, detail = '') =>
    out(row(['library', what, maskCardId(who.card.uid), who.name, result, reason, detail]));
  const tapAtDesk = async (who: Actor) => {
    const seen = taps.length;
    simulatedOf(gate).present('desk', who.card);
    simulatedOf(gate).remove('desk');
    await until(() => taps.length > seen);
    const tap = taps[seen] as StationTap;
    const loans = (tap.detail?.loans as unknown[] | undefined)?.length ?? 0;
    show(
      who,
      'desk tap',
      tap.decision === 'grant' ? 'PATRON' : 'DENY',
      tap.reason,
      tap.decision === 'grant' ? `${loans} of ${tap.detail?.loanLimit} loans` : '',
    );
  };
  let txn = 0;
  const scan = async (who: Actor, name: 'library.checkout' | 'library.return', itemId: string) => {
    txn += 1;
    const args = {
      personId: who.entry?.personId as string,
      itemId,
      txn: `demo-txn-${String(txn).padStart(4, '0')}`,
    };
    const reply = await client.request(name, name === 'library.return' ? { itemId, txn: args.txn } : args);
    const title = String(reply.data?.title ?? itemId);
    show(
      who,
      name === 'library.return' ? 'return' : 'checkout',
      reply.status.toUpperCase(),
      reply.reason ?? (reply.data?.source ? `source ${reply.data.source}` : ''),
      title,
    );
  };
  await tapAtDesk(cast.wangWei);
  await scan(cast.wangWei, 'library.checkout', '9787020002207');
  await scan(cast.wangWei, 'library.checkout', '9787020008735');
  await scan(cast.wangWei, 'library.checkout', '9787020008742');
  await scan(cast.wangWei, 'library.return', '9787020002207');
  await tapAtDesk(cast.zhouBo);
  await client.close();
  // What the desk lent is at the bridge once its events are: the school's loan ledger.
  await gate.gateway.journal.flush();
  await until(() => gate.gateway.journal.stats().backlog === 0);
  const { loans } = (await api(bridge, '/v1/library/school-1/loans?open=true')) as {
    loans: { itemId: string }[];
  };
  out(bridgeRow('ledger', 'LOANS', `${loans.length} open`, loans.map((l) => l.itemId).join(', ')));
  return gate;
}

/** A gateway provisioned as a technician would: pinned root keys, its own key, enrolled with a token. */
async function startGate(
  bridge: Bridge,
  name: string,
  readers: GatewayConfigInput['readers'],
  anchor: KeyRole,
  logFile: ReturnType<typeof createWriteStream>,
  settings: Partial<GatewayConfigInput> = {},
) {
  const dataDir = join(DATA, name);
  await mkdir(join(dataDir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dataDir, 'roster'), anchor);
  const identity = await loadOrCreateIdentity(join(dataDir, 'device-key.json'));
  const { tokens } = (await api(bridge, '/v1/tokens', { school: 'school-1', count: 1 })) as {
    tokens: string[];
  };
  const enrollment = await fetch(`${bridge.httpUrl}/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: tokens[0], deviceId: name, publicKey: identity.publicKey }),
  });
  const { mqtt } = (await enrollment.json()) as { mqtt: { url: string; username: string; password: string } };
  const config = parseConfig({
    device: { id: name, school: 'school-1' },
    dataDir,
    station: { id: name, zone: 'main-gate', debounceMs: 3000 },
    readers,
    io: {
      plugin: 'recording',
      pins: PINS,
      relay: { pulseMs: 1000 },
      door: { graceMs: 0 },
      emergencyRelease: { restoreAfterMs: RESTORE_AFTER_MS },
    },
    policy: { passback: { mode: 'hard', windowMs: 4 * 3_600_000 } },
    uplink: { ...mqtt, bridgeHttp: bridge.httpUrl },
    ...settings,
  });
  const io = recordingIoFor(config.io);
  const gateway = await Gateway.start({
    config,
    logger: createLogger(name, { level: 'info', destination: logFile }),
    io,
    synced: () => true,
  });
  await until(() => gateway.roster.view !== undefined);
  return { name, gateway, io };
}

const simulatedOf = (gate: DemoGate) => gate.gateway.readers as SimulatedReaderDriver;

/** What a demo that fails half-way stops before it exits: pcscd is a process of its own, and outlives it. */
const stopOnFailure: (() => Promise<unknown> | undefined)[] = [];

/**
 * The PC/SC part, when the machine has the stack: pcscd (ours, or one already running) with
 * vsmartcard's virtual readers, and a third gate reading them through the real driver.
 */
async function startPcscGate(
  bridge: Bridge,
  anchor: KeyRole,
  logFile: ReturnType<typeof createWriteStream>,
): Promise<{ gate: DemoGate; pcscd?: Pcscd } | { skipped: string }> {
  const missing = missingPcscParts();
  if (missing.length) return { skipped: `no PC/SC stack here; as root: ${PCSC_APT_COMMAND}` };
  let pcscd: Pcscd | undefined;
  try {
    pcscd = await startPcscd();
    stopOnFailure.push(() => pcscd?.stop());
  } catch (error) {
    if (!/another pcscd is running/.test((error as Error).message))
      return { skipped: `pcscd did not start: ${(error as Error).message}` };
  }
  const gate = await startGate(
    bridge,
    'gate-north',
    { driver: 'pcsc', bindings: [{ pattern: 'Virtual PCD 00 00$', direction: 'in' }] },
    anchor,
    logFile,
  );
  const bound = await until(
    () => gate.gateway.readers.readers().some((r) => r.name === PCSC_READER && r.connected),
    { what: `the gateway to bind ${PCSC_READER}`, timeoutMs: 5000, everyMs: 50 },
  ).catch(() => false);
  if (!bound) {
    await gate.gateway.stop();
    await pcscd?.stop();
    return { skipped: 'the virtual reader did not appear (is vsmartcard-vpcd configured in pcscd?)' };
  }
  return pcscd ? { gate, pcscd } : { gate };
}

/**
 * The central system comes back: the lag the bridge showed while it was down drains, and every event
 * each gateway journaled is there once, in the gateway's order.
 */
async function centralCatchesUp(
  bridge: Bridge,
  central: CentralTestServer,
  gates: DemoGate[],
): Promise<boolean> {
  const waiting = bridge.central.status().push;
  out();
  out(
    `Central system down: ${waiting?.pending ?? 0} events waiting at the bridge, lag ${Math.round(waiting?.lagSeconds ?? 0)} s.`,
  );
  await central.up();
  await until(() => bridge.central.status().push?.pending === 0, { timeoutMs: 20_000 });
  let inOrder = true;
  const counts = gates.map((gate) => {
    const seqs = central.deviceEvents(gate.name).map((e) => e.seq);
    inOrder &&= seqs.every((seq, i) => seq === i + 1) && seqs.length === gate.gateway.journal.stats().lastSeq;
    return `${gate.name} ${seqs.length}`;
  });
  out(
    `Central system back: every event delivered once and in order (${counts.join(', ')}); lag ${bridge.central.status().push?.lagSeconds ?? 0} s.`,
  );
  return inOrder;
}

/** What a head teacher reads at 8:15: who is in, who is late, who has not come. */
function attendanceToday(bridge: Bridge): void {
  const day = bridge.attendance.attendanceDay('school-1', bridge.attendance.today('school-1'));
  if (!day.schoolDay) {
    out(`Attendance ${day.date}: not a school day (${day.reason}).`);
    return;
  }
  const { totals } = day;
  out(
    `Attendance ${day.date}: ${totals.pupils} pupils, ${totals.present} present, ${totals.late} late, ${totals.notArrived + totals.absent} not in, ${totals.onLeave} on leave; ${totals.turnedAway} refused at a gate and outside since (${day.classes.length} classes).`,
  );
}

async function main(): Promise<number> {
  // Keys survive between runs (.demo-data/bridge/roster-keys.json); events and devices start afresh.
  await mkdir(join(DATA, 'bridge'), { recursive: true });
  for (const stale of [
    'bridge/bridge.db',
    'bridge/bridge.db-wal',
    'bridge/bridge.db-shm',
    'gate-east',
    'gate-west',
    'gate-north',
    'library-main',
  ]) {
    await rm(join(DATA, stale), { recursive: true, force: true });
  }
  const logPath = join(DATA, 'demo.log');
  const logFile = createWriteStream(logPath);
  // The district's student-record system, as the contract of docs/central-api.yaml has it, on loopback.
  const central = await CentralTestServer.start(CENTRAL_TOKEN);
  const bridge = await Bridge.start(
    parseBridgeConfig({
      dataDir: join(DATA, 'bridge'),
      adminToken: ADMIN_TOKEN,
      mqtt: { port: 0 },
      http: { port: 0 },
      central: {
        mode: 'api',
        url: central.url,
        token: CENTRAL_TOKEN,
        timeoutMs: 2000,
        push: { intervalMs: 100, backoffBaseMs: 100, backoffMaxMs: 400 },
      },
    }),
    pino({ name: 'bridge', level: 'info' }, logFile),
  );
  const { cast, cards, schedules, calendar } = makeCast(Date.now());
  const imported = await api(bridge, '/v1/roster/school-1/import', { cards, schedules, calendar });
  const anchor = (await (await fetch(`${bridge.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
  const east = await startGate(bridge, 'gate-east', { simulated: ['east-in', 'east-out'] }, anchor, logFile);
  const west = await startGate(bridge, 'gate-west', { simulated: ['west-in', 'west-out'] }, anchor, logFile);
  const gates = { east, west };

  out('educard-edge demo: a cloud bridge (embedded MQTT broker, SQLite) and two gateways on loopback,');
  out('each with simulated readers and a recording IO board, then a third reading real PC/SC (pcscd,');
  out(
    "vsmartcard's virtual reader, a virtual EDU card) where the machine has it. Roster imported through the bridge API,",
  );
  out(
    `signed (version ${imported.version}, ${cards.length} cards) and taken by both gates over MQTT. Anti-passback: hard.`,
  );
  out();
  out(row(['gate', 'reader', 'card', 'person', 'result', 'reason', 'gate action']));
  out(row(COLUMNS.map((w) => '-'.repeat(w))));

  const counts = { grant: 0, deny: 0, ignored: 0 };
  const tap = async (gate: DemoGate, reader: string, who: Actor, hold?: () => Promise<void>) => {
    let outcome: StationTapOutcome | undefined;
    const off = gate.gateway.station.events.on('tap', (o) => {
      outcome = o;
    });
    const mark = gate.io.writes.length;
    if (hold) await hold();
    else {
      simulatedOf(gate).present(reader, who.card);
      simulatedOf(gate).remove(reader);
    }
    await sleep(450);
    off();
    const card = maskCardId(who.card.cpu?.cardNumber ?? who.card.uid);
    if (!outcome) {
      counts.ignored += 1;
      out(row([gate.name, reader, card, who.name, '-', 'same card < 3 s', 'none (debounced)']));
      return;
    }
    const { decision } = outcome;
    counts[decision.decision] += 1;
    const reason = [decision.reason, ...(decision.flags ?? []).filter((f) => f !== 'uid-only')].join(' ');
    out(
      row([
        gate.name,
        reader,
        card,
        who.name,
        decision.decision.toUpperCase(),
        reason,
        actions(gate.io, mark, 1000),
      ]),
    );
  };

  await tap(gates.east, 'east-in', cast.wangWei);
  await tap(gates.east, 'east-in', cast.liFang);
  await tap(gates.west, 'west-in', cast.zhangMin);
  await tap(gates.east, 'east-in', cast.liuJing);
  await tap(gates.west, 'west-in', cast.chenLei);
  await tap(gates.east, 'east-in', cast.yangYan);
  await tap(gates.west, 'west-in', cast.stranger);
  await tap(gates.east, 'east-in', cast.cloner);
  await tap(gates.east, 'east-in', cast.wangWei);
  await tap(gates.east, 'east-out', cast.wangWei);
  await tap(gates.east, 'east-out', cast.wangWei);
  await tap(gates.west, 'west-in', cast.zhouBo);

  // Half-way: Zhou Bo's card is reported lost at the bridge; both gates take the delta.
  const reported = performance.now();
  const lost = await api(bridge, `/v1/cards/${cast.zhouBo.entry?.cardId}/lost`, {});
  const applied: string[] = [];
  for (const gate of [east, west]) {
    await until(() => gate.gateway.roster.view?.version === lost.version);
    applied.push(`${gate.name} ${Math.round(performance.now() - reported)} ms`);
  }
  out(
    row([
      'bridge',
      'API',
      maskCardId(String(cast.zhouBo.entry?.cardId)),
      cast.zhouBo.name,
      'LOST',
      `roster v${lost.version}`,
      `applied: ${applied.join(', ')}`,
    ]),
  );
  await tap(gates.west, 'west-out', cast.zhouBo);

  // The last grant's pulse must be over, or the door opening now would be that grant's.
  await sleep(1000);
  const mark = east.io.writes.length;
  east.io.setInput(PINS.doorContact, 1);
  await sleep(BEEPS.alarm.reduce((sum, [on, off]) => sum + on + off, 0) + 100);
  east.io.setInput(PINS.doorContact, 0);
  out(row(['gate-east', 'door', '-', '-', 'ALARM', 'door forced open', actions(east.io, mark, 0)]));

  // A fire drill at the west gate: the fire panel's alarm contact opens, the gate holds its door
  // unlocked until the panel is reset, and the bridge keeps an alarm open for a person to look at.
  const drill = west.io.writes.length;
  west.io.setInput(PINS.emergencyRelease, 1);
  await until(() => west.gateway.report().io.emergencyRelease?.active === true, {
    what: 'the west gate released',
  });
  await sleep(BEEPS.alarm.reduce((sum, [on, off]) => sum + on + off, 0) + 100);
  out(row(['gate-west', 'fire panel', '-', '-', 'RELEASE', 'fire alarm', actions(west.io, drill, 'held')]));
  const reset = west.io.writes.length;
  west.io.setInput(PINS.emergencyRelease, 0);
  await until(() => west.gateway.report().io.emergencyRelease?.active === false, {
    what: 'the west gate locked again',
  });
  const locked = west.io.writesTo(PINS.relay, reset).at(-1)?.value === 0;
  out(
    row([
      'gate-west',
      'fire panel',
      '-',
      '-',
      'LOCKED',
      'panel reset',
      `${locked ? 'relay open' : 'relay STILL CLOSED'} ${RESTORE_AFTER_MS / 1000} s after the reset`,
    ]),
  );
  const release = await until(
    async () => {
      const { alarms } = (await api(bridge, '/v1/ops/alarms?open=true')) as {
        alarms: { kind: string; device?: string; message: string }[];
      };
      return alarms.find(
        (a) =>
          a.kind === 'door.emergency-release' && a.device === 'gate-west' && /locked again/.test(a.message),
      );
    },
    { what: "the bridge's emergency release alarm", everyMs: 200 },
  );
  out(bridgeRow('alarms', 'ALARM', 'open', release.message.replace(/ at \S+Z$/, '')));

  // An intruder is reported: the school is locked down from the bridge. Both gates take the order,
  // a pupil coming in is refused (exits would go on), the bridge lists who is kept outside for the
  // gatehouse, and the lockdown is lifted again.
  const ordered = performance.now();
  const lockdown = (await api(bridge, '/v1/schools/school-1/lockdown', {
    active: true,
    reason: 'intruder reported',
  })) as { lockdown: { version: number } };
  const took: string[] = [];
  for (const gate of [gates.east, gates.west]) {
    await until(() => gate.gateway.report().lockdown.bridge.active, { what: `${gate.name} in lockdown` });
    took.push(`${gate.name} ${Math.round(performance.now() - ordered)} ms`);
  }
  out(bridgeRow('API', 'ORDER', 'lockdown', `applied: ${took.join(', ')}`));
  await tap(gates.west, 'west-in', cast.wangWei);
  const outside = await until(
    async () => {
      const view = (await api(bridge, '/v1/schools/school-1/lockdown')) as {
        outside: { name: string; device: string }[];
      };
      return view.outside.length > 0 ? view.outside : undefined;
    },
    { what: 'the refused pupil at the bridge', everyMs: 100 },
  );
  for (const person of outside)
    out(
      bridgeRow(
        'API',
        'OUTSIDE',
        'lockdown',
        `refused at ${person.device}: the gatehouse goes to them`,
        person.name,
      ),
    );
  await api(bridge, '/v1/schools/school-1/lockdown', { active: false });
  for (const gate of [gates.east, gates.west])
    await until(() => !gate.gateway.report().lockdown.bridge.active, { what: `${gate.name} lifted` });
  out(
    bridgeRow(
      'API',
      'ORDER',
      'lockdown lifted',
      `order ${lockdown.lockdown.version + 1}: both gates decide as before`,
    ),
  );

  // The district's system goes down for the rest of the gates' story: the bridge holds what it owes.
  await central.down();

  // A library desk: the librarian's page is a terminal of its own gateway. Here a terminal client
  // stands in for the page and does what the page does.
  const library = await libraryDesk(bridge, anchor, logFile, cast);

  // A third gate on real PC/SC, virtual readers and virtual cards: Li Fang's EDU card proves itself
  // by challenge-response; the copy of its UID cannot.
  const pcsc = await startPcscGate(bridge, anchor, logFile);
  const gatesToCount = [east, west, library];
  let expected = { grant: 4, deny: 9 };
  if ('skipped' in pcsc) out(row(['gate-north', 'PC/SC', '-', '-', 'SKIPPED', pcsc.skipped]));
  else {
    gatesToCount.push(pcsc.gate);
    expected = { grant: 5, deny: 10 };
    const holdOn = (card: VirtualCardOptions) => async () => {
      const virtual = new VirtualCard(card);
      await virtual.presentCard();
      // Taken away once the gate has had its two APDUs, as a hand would after the beep.
      await until(() => virtual.apdus >= 2, { timeoutMs: 5000 });
      await sleep(300);
      await virtual.removeCard();
    };
    const liFangCard = {
      uid: Buffer.from(cast.liFang.card.uid, 'hex'),
      edu: sampleEduApplet(2),
    };
    await tap(pcsc.gate, PCSC_READER, cast.liFang, holdOn(liFangCard));
    await sleep(800);
    await tap(pcsc.gate, PCSC_READER, cast.cloner, holdOn({ uid: Buffer.from(cast.cloner.card.uid, 'hex') }));
  }

  // Every journaled event reaches the bridge: wait for the acks, then count both sides.
  for (const gate of gatesToCount) {
    await gate.gateway.journal.flush();
    await until(() => gate.gateway.journal.stats().ackedSeq === gate.gateway.journal.stats().lastSeq);
  }
  out();
  out(`${counts.grant} granted, ${counts.deny} denied, ${counts.ignored} repeat ignored.`);
  let allThere = true;
  for (const gate of gatesToCount) {
    const journaled = gate.gateway.journal.stats().lastSeq;
    const stored = bridge.store.countEvents({ device: gate.name });
    const chain = await gate.gateway.journal.verify();
    allThere &&= stored === journaled && chain.ok;
    out(
      `${gate.name}: ${journaled} events journaled, ${stored} stored at the bridge, hash chain ${chain.ok ? 'verified' : 'BROKEN'}.`,
    );
  }
  const delivered = await centralCatchesUp(bridge, central, gatesToCount);
  allThere &&= delivered;
  attendanceToday(bridge);
  out(`Logs (JSON lines): ${logPath}`);
  for (const gate of gatesToCount) await gate.gateway.stop();
  if (!('skipped' in pcsc)) await pcsc.pcscd?.stop();
  await bridge.stop();
  await central.stop();
  return allThere && counts.grant === expected.grant && counts.deny === expected.deny ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    process.stderr.write(`demo failed: ${(error as Error).stack ?? String(error)}\n`);
    await Promise.allSettled(stopOnFailure.map((stop) => stop()));
    process.exit(1);
  },
);
