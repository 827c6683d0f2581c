import { constants } from 'node:fs';
import { access, readFile, stat, statfs } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Identifier, KeyRole } from '@educard/terminal-sdk';
import { example, print } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import { pino } from 'pino';
import { type RtcState, readRtc } from '../clock/index.js';
import { ConfigError, controlSocketPath, type GatewayConfig, loadConfig } from '../config/index.js';
import { callGateway, socketAnswers } from '../control/index.js';
import { type GpioErrorCode, loadLibgpiod, probeLines } from '../io/gpiod/index.js';
import { RosterStore } from '../roster/index.js';
import type { Gateway } from '../runtime/index.js';
import { TerminalEntry } from '../terminals/index.js';
import { userMayOpen } from './access.js';
import { type Check, type CheckStatus, fail, parseJson, pass, skip, warn } from './checks.js';
import { configPath, SERVICE, wantsJson } from './context.js';
import { bridgeOrder } from './live.js';
import { storageChecks } from './storage-checks.js';

type Report = ReturnType<Gateway['report']>;

/** pcscd's socket; pcsc-lite clients honour the same variable. */
const PCSCD_SOCKET = process.env.PCSCLITE_CSOCK_NAME ?? '/run/pcscd/pcscd.comm';
const STALE_SOON_MS = 24 * 3600_000;

/** What a broker error means, and what the technician does about it. */
export function brokerVerdict(message: string | undefined, url: string): Check {
  if (message && /not authori[sz]ed|bad user ?name or password/i.test(message)) {
    return fail(
      'broker',
      `the broker at ${url} refused this device's credentials (${message})`,
      'The device was revoked or enrolled again elsewhere: get a new token (educard-bridge tokens create) and run educard enroll.',
    );
  }
  if (message && /server unavailable/i.test(message)) {
    return fail(
      'broker',
      `the broker at ${url} answers, but cannot take devices now (${message})`,
      "The bridge cannot check devices' credentials (its database unreachable): tell the bridge's operator. Events wait in the journal meanwhile.",
    );
  }
  return fail(
    'broker',
    `the broker at ${url} cannot be reached${message ? ` (${message})` : ''}`,
    'Check the network and that the broker runs (on the bridge host: educard-bridge serve, or systemctl status mosquitto). Events wait in the journal meanwhile.',
  );
}

/** Connects as the device itself: only while the service is stopped, so no session is taken over. */
async function probeBroker(config: GatewayConfig): Promise<Check> {
  const uplink = config.uplink as NonNullable<GatewayConfig['uplink']>;
  const tls = uplink.tls;
  const read = (file: string | undefined) => (file ? readFile(file) : Promise.resolve(undefined));
  const [ca, cert, key] = await Promise.all([read(tls?.ca), read(tls?.cert), read(tls?.key)]);
  try {
    const { default: mqtt } = await import('mqtt');
    const client = await mqtt.connectAsync(uplink.url, {
      clientId: config.device.id,
      username: uplink.username,
      password: uplink.password,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
    });
    await client.endAsync();
    return pass('broker', `${uplink.url}: connected and authenticated`);
  } catch (error) {
    return brokerVerdict((error as Error).message, uplink.url);
  }
}

/**
 * The bridge's /health: answering at all, able to reach its database, and storing events (503 when
 * it cannot).
 */
async function probeBridge(bridgeHttp: string): Promise<Check> {
  const answer = await fetch(`${bridgeHttp.replace(/\/$/, '')}/health`, {
    signal: AbortSignal.timeout(5000),
  }).then(
    async (response) => ({ status: response.status, body: await response.json().catch(() => undefined) }),
    () => undefined,
  );
  if (answer?.status === 200) return pass('bridge', `${bridgeHttp} answers`);
  const { database, storeFailure } =
    (answer?.body as
      | {
          database?: { reachable?: boolean; error?: unknown };
          storeFailure?: { since?: unknown; error?: unknown };
        }
      | undefined) ?? {};
  const cannot =
    answer?.status !== 503
      ? undefined
      : database?.reachable === false
        ? `reach its database (${String(database.error)})`
        : storeFailure
          ? `store events since ${String(storeFailure.since)} (${String(storeFailure.error)})`
          : undefined;
  if (cannot) {
    return fail(
      'bridge',
      `the bridge at ${bridgeHttp} answers, but cannot ${cannot}`,
      "Taps are decided and journaled here as before, and sent once it can: tell the bridge's operator (its database server, its disk, or the network to them).",
    );
  }
  return fail(
    'bridge',
    `the bridge at ${bridgeHttp} does not answer${answer ? ` (HTTP ${answer.status})` : ''}`,
    'Roster snapshots come from it: check the network and that the bridge runs.',
  );
}

/** The service's user, as deploy/educard-gateway.service runs it. */
const SERVICE_USER = 'educard';

const LINE_REMEDY: Record<GpioErrorCode, string> = {
  busy: 'Another process holds the line (gpioinfo names it): stop it, e.g. sudo systemctl disable --now pigpiod.',
  permission: `Give the service user the gpio group: sudo deploy/install-gateway.sh does, or sudo usermod -aG gpio ${SERVICE_USER}.`,
  'no-line': 'Check io.pins against the board: gpioinfo lists every chip and line name.',
  'no-chip': 'Check io.gpiod.chip: gpiodetect lists the chips.',
  failed: "See the detail; educard logs shows the gateway's own error.",
};

/**
 * The gpiod plugin's lines, looked up while the gateway does not hold them: each one present, free,
 * and openable by this user (run doctor as root, or as the service user, to know the service's).
 */
function probeGpiod(config: GatewayConfig): Check {
  let probes: ReturnType<typeof probeLines>;
  try {
    probes = probeLines(config.io, loadLibgpiod());
  } catch (error) {
    return fail('gate-io', (error as Error).message, LINE_REMEDY.failed);
  }
  const bad = probes.filter((p) => p.status !== 'ok');
  const lines = probes.map((p) => `${p.part} ${p.detail}`).join('; ');
  const chips = new Set(probes.flatMap((p) => (p.line ? [p.line.split(':')[0] as string] : [])));
  for (const chip of chips) {
    const access = (() => {
      try {
        return userMayOpen(`/dev/${chip}`, SERVICE_USER);
      } catch (error) {
        return { ok: false, detail: (error as Error).message };
      }
    })();
    if (!access.ok)
      return fail(
        'gate-io',
        `the service user ${SERVICE_USER} may not open /dev/${chip}: ${access.detail}`,
        LINE_REMEDY.permission,
      );
  }
  if (bad.length === 0) return pass('gate-io', `gpiod, lines free: ${lines}`);
  const first = bad[0] as (typeof bad)[number];
  return fail(
    'gate-io',
    bad.map((p) => `${p.part} (${p.pin}): ${p.detail}`).join('; '),
    LINE_REMEDY[first.status as GpioErrorCode],
  );
}

function gateIoCheck(io: Report['io']): Check {
  if (!io.ready)
    return fail(
      'gate-io',
      `the ${io.plugin} IO plugin is not ready`,
      "Check io.plugin, io.port and the wiring; educard logs shows the board's error; then educard test-io.",
    );
  if (io.emergencyRelease?.active)
    return warn(
      'gate-io',
      `the emergency release input holds the door unlocked since ${io.emergencyRelease.since}`,
      'If there is no fire alarm or break-glass, check the fire panel and the wiring of io.pins.emergencyRelease: its contact is closed at rest, so a cut wire releases the door.',
    );
  const lines = io.lines ?? [];
  const faults = lines.filter((line) => line.fault);
  if (faults.length > 0)
    return warn(
      'gate-io',
      faults.map((line) => `${line.part} ${line.line}: ${line.fault}`).join('; '),
      'The gate goes on deciding, without that input until it is back; educard logs shows the retries.',
    );
  return pass(
    'gate-io',
    `${io.plugin} ready${lines.length ? `: ${lines.map((line) => `${line.part} ${line.line}`).join(', ')}` : ''}`,
  );
}

/**
 * A gate in lockdown refuses every entry by design: the technician who finds every card refused
 * learns why here, and who lifts it.
 */
function lockdownCheck(report: Report): Check {
  const switchOn = report.io.lockdown?.active ?? false;
  const order = report.lockdown.bridge;
  const causes = [
    ...(switchOn ? ['its lockdown switch is on'] : []),
    ...(order.active ? [`the bridge ordered the school's lockdown ${bridgeOrder(order)}`] : []),
  ];
  if (causes.length === 0) return pass('lockdown', 'not in lockdown');
  return warn(
    'lockdown',
    `entries are refused: ${causes.join('; ')}`,
    [
      ...(switchOn ? ['Turn the gatehouse switch off (io.pins.lockdown).'] : []),
      ...(order.active
        ? [
            `The school's office lifts it: educard-bridge lockdown lift --school ${report.device.school}, or the Operations page.`,
          ]
        : []),
    ].join(' '),
  );
}

/** The real-time clock: whether the gateway may trust the time before NTP answers. */
function rtcCheck(rtc: RtcState | null | undefined): Check {
  if (!rtc) return skip('rtc', 'no real-time clock configured (clock.rtc is false)');
  if (!rtc.present)
    return skip('rtc', `no real-time clock at ${rtc.path}: until NTP answers, events are marked unsynced`);
  if (!rtc.valid)
    return warn(
      'rtc',
      `the real-time clock at ${rtc.path} is not believed: ${rtc.reason}${rtc.time ? ` (it reads ${rtc.time})` : ''}`,
      'Fit or change its battery (a Pi 5: the RTC battery on its BAT connector); once NTP has set the time, sudo hwclock --systohc.',
    );
  return pass(
    'rtc',
    `${rtc.path} reads ${rtc.time}${rtc.setSystemClock ? ', and set the system clock at boot' : ''}: events are trusted from it before NTP`,
  );
}

async function checkRoster(config: GatewayConfig, report: Report | undefined, now: number): Promise<Check> {
  let roster: { version: number; expiresAt: number } | undefined;
  if (report) {
    roster = report.roster
      ? { version: report.roster.version, expiresAt: Date.parse(report.roster.expiresAt) }
      : undefined;
  } else {
    const store = await RosterStore.open({
      dir: join(config.dataDir, 'roster'),
      school: config.device.school,
      device: config.device.id,
      logger: pino({ level: 'silent' }),
      now: () => now,
      readOnly: true,
    }).catch(() => undefined);
    roster = store?.view ? { version: store.view.version, expiresAt: store.view.expiresAt } : undefined;
  }
  if (!roster) {
    return fail(
      'roster',
      'no roster: every card is denied',
      'Check the uplink (broker check above); the bridge sends the roster once the device is connected.',
    );
  }
  const expires = new Date(roster.expiresAt).toISOString();
  if (roster.expiresAt <= now) {
    return fail(
      'roster',
      `roster version ${roster.version} is stale: it expired at ${expires}`,
      'The bridge has sent nothing newer: check the uplink, and that the bridge runs and publishes (educard-bridge keys show; an import renews it).',
    );
  }
  if (roster.expiresAt - now < STALE_SOON_MS) {
    return warn(
      'roster',
      `roster version ${roster.version} expires soon, at ${expires}`,
      'Check that the uplink is connected so that a fresh one can arrive.',
    );
  }
  return pass('roster', `version ${roster.version}, fresh until ${expires}`);
}

/**
 * The terminal credentials in a configuration that no longer parse (a damaged digest, id or station
 * list): each id, or its place in the list when the id itself is damaged.
 */
async function damagedTerminals(path: string): Promise<string[]> {
  const raw = await readFile(path, 'utf8')
    .then((text) => JSON.parse(text) as { terminals?: { terminals?: unknown } })
    .catch(() => undefined);
  const list = raw?.terminals?.terminals;
  if (!Array.isArray(list)) return [];
  return list.flatMap((entry: unknown, i) => {
    if (TerminalEntry.safeParse(entry).success) return [];
    const id = Identifier.safeParse((entry as { id?: unknown } | null)?.id);
    return [id.success ? id.data : `#${i + 1}`];
  });
}

/** A damaged credential cannot be mended (only a digest was kept): the terminal gets a new one. */
function terminalRemedy(terminals: string[], path: string): string {
  const named = terminals.filter((t) => !t.startsWith('#'));
  const unnamed = terminals.filter((t) => t.startsWith('#'));
  return [
    ...named.map(
      (id) =>
        `Terminal ${id}'s credential is damaged: sudo educard terminals remove ${id} && sudo educard terminals add ${id}, then give the terminal its new password.`,
    ),
    ...unnamed.map(
      (place) =>
        `Terminal entry ${place} under terminals.terminals in ${path} has no valid id: delete that entry, then sudo educard terminals add ID for the terminal it was.`,
    ),
  ].join(' ');
}

export async function diagnose(path: string): Promise<Check[]> {
  let config: GatewayConfig;
  try {
    config = await loadConfig(path);
  } catch (error) {
    const detail = error instanceof ConfigError ? error.message : (error as Error).message;
    const terminals = await damagedTerminals(path);
    if (terminals.length > 0) return [fail('config', detail, terminalRemedy(terminals, path))];
    return [fail('config', detail, `Fix the file, or make one with: sudo educard init --config ${path}`)];
  }
  const checks: Check[] = [pass('config', `${resolve(path)} is valid`)];
  const keyFile = resolve(config.dataDir, config.identity.keyFile);
  const keyMode = await stat(keyFile).then(
    (s) => s.mode & 0o777,
    () => undefined,
  );
  const keyReadable = await access(keyFile, constants.R_OK).then(
    () => true,
    () => false,
  );
  const keyProblem = keyReadable ? await damagedKey(keyFile) : undefined;
  checks.push(
    keyMode === undefined
      ? fail('device-key', `no device key at ${keyFile}`, 'Run sudo educard init.')
      : keyProblem
        ? fail(
            'device-key',
            `${keyFile} is damaged (${keyProblem}): the gateway cannot sign its events and does not start`,
            `Restore the file from a backup if there is one. Otherwise the device needs a new key and a new enrollment: on the bridge, educard-bridge devices revoke ${config.device.id}; here, sudo mv ${keyFile} ${keyFile}.damaged and sudo educard enroll --token TOKEN (it makes a new key; the bridge keeps what the old one signed).`,
          )
        : !keyReadable
          ? fail(
              'device-key',
              `${keyFile} cannot be read by this user`,
              'Run educard doctor as root, or as the service user.',
            )
          : keyMode & 0o077
            ? warn(
                'device-key',
                `${keyFile} is readable by others (mode ${keyMode.toString(8)})`,
                `sudo chmod 600 ${keyFile}`,
              )
            : pass('device-key', `${keyFile} (mode 600)`),
  );
  const anchorFile = join(config.dataDir, 'roster', 'anchor.json');
  const anchor = await readFile(anchorFile, 'utf8').then(
    (text) => (KeyRole.safeParse(parseJson(text)).success ? 'pinned' : 'damaged'),
    () => 'missing',
  );
  checks.push(
    anchor === 'pinned'
      ? pass('trust-anchor', 'root keys pinned')
      : anchor === 'damaged'
        ? fail(
            'trust-anchor',
            `${anchorFile} is damaged: no roster can be verified, so the gate decides as it does with no roster`,
            `Pin the school's root keys again: sudo mv ${anchorFile} ${anchorFile}.damaged, then sudo educard init --force with the root keys and their fingerprint (as at provisioning; the device keeps its key only if you restore it after).`,
          )
        : fail(
            'trust-anchor',
            'no root keys pinned: no roster can be accepted',
            "Run sudo educard init with the school's root keys and fingerprint.",
          ),
  );

  const report = await callGateway<Report>(controlSocketPath(config), 'status', {}, 3000).catch(
    () => undefined,
  );
  checks.push(
    report
      ? pass('service', `running since ${report.startedAt} (pid ${report.pid})`)
      : fail(
          'service',
          'the gateway is not running',
          `sudo systemctl start ${SERVICE}; if it stops again, educard logs shows why`,
        ),
  );

  if (config.readers.driver === 'pcsc') {
    checks.push(
      (await socketAnswers(PCSCD_SOCKET))
        ? pass('pcscd', `pcscd answers on ${PCSCD_SOCKET}`)
        : fail(
            'pcscd',
            'pcscd is not running: no card reader can be read',
            'sudo systemctl start pcscd (install it with: sudo apt-get install pcscd libpcsclite1)',
          ),
    );
  }
  if (report) {
    const readers = report.readers.list.filter((r) => r.connected);
    const withErrors = report.readers.list.filter((r) => r.lastError);
    const errors = withErrors.map((r) => `${r.name}: ${r.lastError}`).join('; ');
    checks.push(
      readers.length === 0
        ? fail(
            'readers',
            `no card reader found (driver ${report.readers.driver})${errors ? `; ${errors}` : ''}`,
            'Plug the reader in and check it with pcsc_scan; then educard readers.',
          )
        : withErrors.length > 0
          ? warn('readers', errors, "Check the reader's cable and educard logs.")
          : pass('readers', readers.map((r) => r.name).join(', ')),
    );
    checks.push(gateIoCheck(report.io), lockdownCheck(report));
  } else {
    checks.push(
      skip('readers', 'the gateway is not running'),
      config.io.plugin === 'gpiod' ? probeGpiod(config) : skip('gate-io', 'the gateway is not running'),
    );
  }

  if (!config.uplink) {
    checks.push(
      warn(
        'broker',
        'no uplink configured: events stay on the device',
        'Enroll the device: sudo educard enroll --token TOKEN --bridge URL',
      ),
    );
  } else if (report?.uplink) {
    checks.push(
      report.uplink.connected
        ? pass('broker', `${config.uplink.url}: connected`)
        : brokerVerdict(report.uplink.lastError, config.uplink.url),
    );
  } else if (!config.uplink.username) {
    checks.push(
      fail('broker', 'no broker credentials yet', 'Enroll the device: sudo educard enroll --token TOKEN'),
    );
  } else {
    checks.push(await probeBroker(config));
  }
  if (config.uplink) {
    checks.push(await probeBridge(config.uplink.bridgeHttp));
  }

  const now = Date.now();
  let floorSeen = 0;
  if (report) {
    checks.push(
      !report.clock.trusted
        ? fail(
            'clock',
            `the clock reads ${report.clock.now}, before the time floor ${report.clock.floor}`,
            'Set the time (NTP: systemctl status systemd-timesyncd), or fit an RTC; until then the policy for an untrusted clock applies.',
          )
        : report.clock.synced
          ? pass('clock', `${report.clock.now}, NTP synchronised`)
          : report.clock.source === 'rtc'
            ? pass('clock', `${report.clock.now}, from the real-time clock (NTP not synchronised yet)`)
            : warn(
                'clock',
                `${report.clock.now}, not NTP synchronised`,
                'sudo timedatectl set-ntp true; check that an NTP server is reachable.',
              ),
    );
  } else {
    const floor = await readFile(join(config.dataDir, 'clock.json'), 'utf8').then(
      (text) => (JSON.parse(text) as { timeFloor?: number }).timeFloor ?? 0,
      () => 0,
    );
    checks.push(
      now < floor
        ? fail(
            'clock',
            `the clock reads ${new Date(now).toISOString()}, before the time floor ${new Date(floor).toISOString()}`,
            'Set the time (NTP: systemctl status systemd-timesyncd), or fit an RTC.',
          )
        : pass('clock', `${new Date(now).toISOString()}, after the time floor`),
    );
    floorSeen = floor;
  }
  checks.push(
    rtcCheck(
      report
        ? report.clock.rtc
        : config.clock.rtc === false
          ? null
          : readRtc(config.clock.rtc, now, floorSeen),
    ),
  );

  const fs = await statfs(config.dataDir).catch(() => undefined);
  if (!fs) {
    checks.push(fail('disk', `${config.dataDir} does not exist`, 'Run sudo educard init.'));
  } else {
    const free = fs.bavail * fs.bsize;
    const used = report?.journal.bytes ?? 0;
    checks.push(
      free < config.journal.minFreeBytes
        ? fail(
            'disk',
            `${(free / 1048576).toFixed(0)} MiB free, under the ${(config.journal.minFreeBytes / 1048576).toFixed(0)} MiB the journal needs`,
            'Free space on the device (journalctl --vacuum-size=50M; apt-get clean), or a bigger card.',
          )
        : used > config.journal.budgetBytes * 0.8
          ? warn(
              'disk',
              `the journal holds ${(used / 1048576).toFixed(0)} MiB, past 80% of its budget`,
              'Events are not reaching the bridge: check the broker check above.',
            )
          : pass('disk', `${(free / 1048576).toFixed(0)} MiB free`),
    );
  }
  checks.push(...(await storageChecks(config, report)));
  checks.push(await checkRoster(config, report, now));
  return checks;
}

/** What is wrong with a device key file that can be read, if anything. */
async function damagedKey(path: string): Promise<string | undefined> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => `!${error.code}`);
  if (text.startsWith('!')) return `it cannot be read: ${text.slice(1)}`;
  const stored = parseJson(text) as { seed?: unknown } | undefined;
  if (stored === undefined) return 'not JSON';
  return typeof stored.seed === 'string' && /^[A-Za-z0-9_-]{43}$/.test(stored.seed)
    ? undefined
    : 'no 32-byte seed in it';
}

const MARK: Record<CheckStatus, string> = { pass: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

export function registerDoctor(program: Command): void {
  example(
    program
      .command('doctor')
      .description('check everything a gate needs, each with pass or fail and what to do next')
      .option('--json', 'print the checks as JSON'),
    'sudo educard doctor',
  ).action(async (_options, command: Command) => {
    const checks = await diagnose(configPath(command));
    const failed = checks.filter((c) => c.status === 'fail').length;
    print(wantsJson(command), { ok: failed === 0, checks }, () =>
      [
        ...checks.map(
          (c) =>
            `${MARK[c.status]}  ${c.id.padEnd(12)} ${c.detail}${c.remedy && c.status !== 'pass' ? `\n      ${' '.repeat(12)} → ${c.remedy}` : ''}`,
        ),
        '',
        failed === 0 ? 'all checks passed' : `${failed} check(s) failed`,
      ].join('\n'),
    );
    if (failed > 0) process.exitCode = 1;
  });
}
