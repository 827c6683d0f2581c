import { CliError, example, print, table, usageError } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import { controlSocketPath } from '../config/index.js';
import { GatewayUnreachable, watchGateway } from '../control/index.js';
import { IO_TEST_PARTS } from '../io/config.js';
import type { Gateway } from '../runtime/index.js';
import { askGateway, configPath, notRunning, readConfig, wantsJson } from './context.js';

type Report = ReturnType<Gateway['report']>;
type Tap = Report['lastTaps'][number];

const ago = (iso: string | null | undefined, now: number) => {
  if (!iso) return '';
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86_400)} days ago`;
};

/** One screen: what a technician looks at first when a gate misbehaves. */
export function formatStatus(report: Report): string {
  const now = Date.parse(report.clock.now);
  const { roster, journal, uplink, readers, io, clock } = report;
  const lines = [
    `device    ${report.device.id} (school ${report.device.school})${report.device.keyId ? `, key ${report.device.keyId}` : ''}`,
    `station   ${report.station.id}: ${report.station.type}, zone ${report.station.zone}; firmware ${report.firmware}, up since ${report.startedAt}`,
    roster
      ? `roster    version ${roster.version}, ${roster.cards} cards, key set ${roster.keySetVersion}; expires ${roster.expiresAt}${roster.expired ? '  EXPIRED' : ''}`
      : 'roster    none yet: the gateway denies every card until one arrives (check the uplink)',
    ...formatStorage(report.storage),
    `journal   ${journal.lastSeq} events, ${journal.backlog} not yet acknowledged${journal.oldestUnackedAt ? ` (oldest ${journal.oldestUnackedAt}, ${ago(journal.oldestUnackedAt, now)})` : ''}; ${(journal.bytes / 1048576).toFixed(1)} of ${(journal.budgetBytes / 1048576).toFixed(0)} MiB${journal.diskLow ? '  DISK LOW' : ''}`,
    uplink
      ? `uplink    ${uplink.connected ? 'connected' : 'NOT CONNECTED'} to ${uplink.url}; acked to ${uplink.ackedSeq}, ${uplink.inFlight} batches in flight, ${uplink.reconnects} reconnects${uplink.refusedAcks ? `; ${uplink.refusedAcks} ACKS REFUSED (not of this journal)` : ''}${uplink.refusedCommands ? `; ${uplink.refusedCommands} COMMANDS REFUSED (not signed for this device)` : ''}${uplink.lastError ? `; last error: ${uplink.lastError}` : ''}`
      : 'uplink    none configured (standalone): run educard enroll',
    `readers   ${readers.driver}: ${readers.list.length === 0 ? 'NONE FOUND' : readers.list.map((r) => `${r.name}${r.connected ? '' : ' (disconnected)'}${r.lastError ? ` [${r.lastError}]` : ''}`).join(', ')}`,
    `gate IO   ${io.plugin}, ${io.ready ? 'ready' : 'NOT READY'}; relay ${io.relayClosed ? 'closed (door open)' : 'open'}${io.doorOpen === undefined ? '' : `; door ${io.doorOpen ? 'open' : 'closed'}`}${io.emergencyRelease?.active ? `; EMERGENCY RELEASE since ${io.emergencyRelease.since}: the door is held unlocked` : ''}${io.lockdown?.active ? `; LOCKDOWN since ${io.lockdown.since}: entries refused` : ''}`,
    ...(io.lines ?? []).map((line) => `  ${formatLine(line)}`),
    ...(report.lockdown.bridge.active
      ? [`lockdown  ORDERED BY THE BRIDGE ${bridgeOrder(report.lockdown.bridge)}; entries refused`]
      : []),
    `clock     ${clock.now}, ${clock.trusted ? 'trusted' : 'NOT TRUSTED (before the time floor)'}, ${clock.synced ? 'NTP synchronised' : 'not NTP synchronised'}`,
    `last taps ${report.lastTaps.length === 0 ? 'none since start' : ''}`,
    ...report.lastTaps
      .slice(-5)
      .reverse()
      .map((tap) => `  ${formatTap(tap)}`),
  ];
  return lines.join('\n');
}

/** The bridge's lockdown order in force, as status and doctor show it: its number, since when, why. */
export function bridgeOrder(order: Report['lockdown']['bridge']): string {
  return `since ${order.since} (order ${order.version})${order.reason ? `: ${order.reason}` : ''}`;
}

/** The storage lines: the disk, what waits in memory and what was lost, files in quarantine, the last loss. */
export function formatStorage(storage: Report['storage']): string[] {
  const disk = storage.diskFull
    ? `DISK TAKES NO WRITES (${storage.lastWriteError}): ${storage.held} of ${storage.maxHeld} records held in memory`
    : storage.diskLow
      ? 'DISK LOW'
      : 'disk ok';
  const free = storage.freeBytes === null ? '' : `, ${(storage.freeBytes / 1048576).toFixed(0)} MiB free`;
  const lines = [
    `storage   ${disk}${free}; ${storage.lost} lost since start; ${storage.quarantined.length} file(s) in quarantine`,
  ];
  for (const q of storage.quarantined.slice(-3)) lines.push(`  quarantined ${q.path}: ${q.reason}`);
  const last = storage.lastDamage;
  if (last) {
    const range =
      last.firstSeq === undefined
        ? `${last.records} record(s)`
        : `records ${last.firstSeq} to ${last.lastSeq}`;
    lines.push(
      `  last loss ${last.at}: ${last.cause}, ${range} (journaled at ${last.damagedSeq ?? 'next write'})`,
    );
  }
  if (storage.damagedNow) lines.push(`  DAMAGED NOW ${storage.damagedNow}: a restart quarantines it`);
  for (const note of storage.notes) lines.push(`  note ${note}`);
  if (storage.diskFull || storage.lost > 0 || storage.quarantined.length > 0 || storage.damagedNow)
    lines.push('  → educard doctor says what to do about each');
  return lines;
}

/** One GPIO line of the gpiod plugin: part, line, direction and flags, and its fault if it has one. */
function formatLine(line: NonNullable<Report['io']['lines']>[number]): string {
  const flags = [
    line.direction,
    ...(line.activeLow ? ['active-low'] : []),
    ...(line.bias ? [line.bias] : []),
  ];
  return `${line.part.padEnd(12)} ${line.line} ${flags.join(', ')}${line.fault ? `  FAULT: ${line.fault}` : ''}`;
}

export function formatTap(tap: Tap): string {
  return `${tap.at}  ${tap.reader.padEnd(12)} ${tap.card.padEnd(8)} ${tap.decision.toUpperCase().padEnd(5)} ${tap.reason}${tap.personId ? `  ${tap.personId}` : ''}`;
}

export function registerLive(program: Command): void {
  example(
    program
      .command('status')
      .description(
        'one screen on the running gateway: identity, roster, journal, uplink, readers, clock, last taps',
      )
      .option('--json', 'print the report as JSON'),
    'educard status',
    'educard status --json | jq .journal.backlog',
  ).action(async (_options, command: Command) => {
    const config = await readConfig(configPath(command));
    const report = await askGateway<Report>(config, 'status');
    print(wantsJson(command), report, () => formatStatus(report));
  });

  example(
    program
      .command('readers')
      .description('list the card readers the running gateway sees, or watch taps live')
      .option('-w, --watch', 'print every tap as it happens, until Ctrl-C')
      .option('--json', 'print JSON (one object per tap with --watch)'),
    'educard readers',
    'educard readers --watch',
  ).action(async (options: { watch?: boolean }, command: Command) => {
    const config = await readConfig(configPath(command));
    const json = wantsJson(command);
    if (!options.watch) {
      const report = await askGateway<Report>(config, 'status');
      const bindings = config.readers.bindings.map((b) => ({
        pattern: new RegExp(b.pattern),
        direction: b.direction,
      }));
      const list = report.readers.list.map((reader) => ({
        ...reader,
        direction: bindings.find((b) => b.pattern.test(reader.name))?.direction ?? 'unbound',
      }));
      print(json, { driver: report.readers.driver, readers: list }, () =>
        list.length === 0
          ? `no readers found (driver ${report.readers.driver}): check the cable, then educard doctor`
          : table(
              ['reader', 'direction', 'connected', 'card', 'last error'],
              list.map((r) => [
                r.name,
                r.direction,
                r.connected ? 'yes' : 'no',
                r.cardPresent ? 'present' : '',
                r.lastError ?? '',
              ]),
            ),
      );
      return;
    }
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    if (!json) process.stderr.write('watching taps; Ctrl-C to stop\n');
    try {
      await watchGateway(
        controlSocketPath(config),
        'taps.watch',
        (tap) => process.stdout.write(`${json ? JSON.stringify(tap) : formatTap(tap as Tap)}\n`),
        stop.signal,
      );
    } catch (error) {
      if (error instanceof GatewayUnreachable) throw notRunning(error);
      throw new CliError((error as Error).message);
    }
  });

  example(
    program
      .command('test-io')
      .description('pulse the relay (the door opens for a second), light the LEDs and sound the buzzer')
      .option('--only <parts>', `a comma-separated choice of ${IO_TEST_PARTS.join(', ')}`)
      .option('--json', 'print what was tested as JSON'),
    'educard test-io',
    'educard test-io --only leds,buzzer',
  ).action(async (options: { only?: string }, command: Command) => {
    const parts = options.only ? options.only.split(',').map((p) => p.trim()) : [...IO_TEST_PARTS];
    const unknown = parts.filter((p) => !(IO_TEST_PARTS as readonly string[]).includes(p));
    if (unknown.length > 0)
      throw usageError(`unknown part(s) ${unknown.join(', ')}; choose from ${IO_TEST_PARTS.join(', ')}`);
    const config = await readConfig(configPath(command));
    const done = await askGateway<string[]>(config, 'io.test', { parts });
    const missing = parts.filter((p) => !done.includes(p));
    const { io } = await askGateway<Report>(config, 'status');
    print(
      wantsJson(command),
      { plugin: io.plugin, tested: done, notAvailable: missing, lines: io.lines ?? [] },
      () =>
        [
          `tested: ${done.join(', ') || 'nothing'} (${io.plugin})`,
          ...(io.lines ?? []).map((line) => `  ${formatLine(line)}`),
          ...(missing.length
            ? [
                `not available: ${missing.join(', ')} (the gate IO is not ready: check io.plugin and the wiring, then educard doctor)`,
              ]
            : []),
        ].join('\n'),
    );
    if (missing.length > 0) process.exitCode = 1;
  });
}
