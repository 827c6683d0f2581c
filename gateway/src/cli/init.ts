import { access, chown, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  describeIssues,
  Identifier,
  KeyRole,
  rootFingerprint,
  STATION_KINDS,
  sameFingerprint,
} from '@educard/terminal-sdk';
import { CliError, example, print, usageError } from '@educard/terminal-sdk/cli';
import type { input } from '@inquirer/prompts';
import type { Command } from 'commander';
import { GatewayConfig, type GatewayConfigInput, ReadersConfig } from '../config/index.js';
import { loadOrCreateIdentity } from '../identity/index.js';
import type { IoConfig } from '../io/index.js';
import { RosterStore } from '../roster/index.js';
import { writeFileDurable } from '../storage/index.js';
import { type Board, detectBoard, PI_WIRING } from './board.js';
import { configPath, gatewayRunning, SERVICE, wantsJson } from './context.js';

export const DEFAULT_DATA_DIR = '/var/lib/educard';
const STATION_TYPES = STATION_KINDS;
const READER_DRIVERS = ReadersConfig.shape.driver.unwrap().options;
const IO_PLUGINS = ['recording', 'gpiod', 'firmata', 'raspi'] as const;

interface InitOptions {
  dataDir?: string;
  school?: string;
  device?: string;
  stationType?: string;
  seats?: string;
  station?: string;
  zone?: string;
  readers?: string;
  readerIn?: string;
  readerOut?: string;
  ioPlugin?: string;
  ioPort?: string;
  relayPin?: string;
  relayType?: string;
  greenPin?: string;
  redPin?: string;
  buzzerPin?: string;
  doorPin?: string;
  exitPin?: string;
  emergencyPin?: string;
  lockdownPin?: string;
  bridge?: string;
  broker?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  rootKeys?: string;
  rootFingerprint?: string;
  input: boolean;
  force?: boolean;
}

const checkIdentifier = (value: string) => {
  const result = Identifier.safeParse(value);
  return result.success || `letters, digits, ".", "_" or "-", starting with a letter or digit`;
};
const checkUrl = (schemes: RegExp, what: string) => (value: string) =>
  value === '' || schemes.test(value) || `${what}`;
const pin = (value: string | undefined) =>
  value === undefined ? undefined : /^\d+$/.test(value) ? Number(value) : value;

/**
 * Asks for what the flags left out, on a terminal; without one (a script, a serial console with
 * --no-input) a missing value is a usage error, so nothing is ever half-decided.
 */
async function complete(
  options: InitOptions,
  interactive: boolean,
  board: Board,
): Promise<
  Required<
    Pick<
      InitOptions,
      | 'school'
      | 'device'
      | 'stationType'
      | 'station'
      | 'zone'
      | 'readers'
      | 'ioPlugin'
      | 'rootKeys'
      | 'rootFingerprint'
    >
  > &
    InitOptions
> {
  const missing = (name: string, flag: string): never => {
    throw usageError(
      `${name} is needed: give ${flag}`,
      'Run educard init on a terminal to be asked, or see educard init --help.',
    );
  };
  const ask = async (
    current: string | undefined,
    flag: string,
    question: Parameters<typeof input>[0],
  ): Promise<string> => {
    if (current !== undefined) return current;
    if (!interactive) return missing(question.message.replace(/:$/, ''), flag);
    return (await prompts()).input(question);
  };
  const choose = async <T extends string>(
    current: string | undefined,
    message: string,
    choices: readonly T[],
    fallback: T,
  ): Promise<string> => {
    if (current !== undefined) return current;
    if (!interactive) return fallback;
    return (await prompts()).select({
      message,
      choices: choices.map((value) => ({ value })),
      default: fallback,
    });
  };
  const school = await ask(options.school, '--school', {
    message: 'School id:',
    validate: checkIdentifier,
    required: true,
  });
  const device = await ask(options.device, '--device', {
    message: 'Device name:',
    validate: checkIdentifier,
    required: true,
  });
  const stationType = await choose(options.stationType, 'Station type:', STATION_TYPES, 'gate');
  const seats =
    options.seats ??
    (stationType === 'lab' && interactive
      ? await (await prompts()).input({
          message: 'Seats (a number, or their names separated by commas):',
          default: '40',
        })
      : undefined);
  const zone = await ask(options.zone, '--zone', {
    message: 'Zone:',
    default: 'main-gate',
    validate: checkIdentifier,
  });
  const station = options.station ?? device;
  const readers = await choose(options.readers, 'Card readers:', READER_DRIVERS, 'pcsc');
  const readerIn =
    options.readerIn ??
    (interactive
      ? await (await prompts()).input({
          message: 'Entry reader (part of its name, a regular expression):',
          default: readers === 'pcsc' ? '.' : '-in$',
        })
      : undefined);
  const readerOut =
    options.readerOut ??
    (interactive
      ? await (await prompts()).input({
          message: 'Exit reader (leave empty if none):',
          default: readers === 'pcsc' ? '' : '-out$',
        })
      : undefined);
  const ioPlugin = await choose(options.ioPlugin, 'Gate IO:', IO_PLUGINS, board.ioPlugin);
  const ioPort =
    options.ioPort ??
    (ioPlugin === 'firmata' && interactive
      ? await (await prompts()).input({ message: 'Firmata serial port:', default: '/dev/ttyACM0' })
      : undefined);
  const bridge =
    options.bridge ??
    (interactive
      ? await (await prompts()).input({
          message: 'Bridge URL (empty to set at enroll):',
          validate: checkUrl(/^https?:\/\//, 'an http:// or https:// URL'),
        })
      : undefined);
  const rootKeys = await ask(options.rootKeys, '--root-keys', {
    message: 'Root keys (a file, or the bridge URL of its anchor):',
    default: bridge ? `${bridge.replace(/\/$/, '')}/v1/roster/anchor` : undefined,
    required: true,
  });
  const fingerprint = await ask(options.rootFingerprint, '--root-fingerprint', {
    message: 'Root key fingerprint (from the bridge operator, 8 groups of 4):',
    required: true,
  });
  return {
    ...options,
    school,
    device,
    stationType,
    ...(seats ? { seats } : {}),
    station,
    zone,
    readers,
    ioPlugin,
    rootKeys,
    rootFingerprint: fingerprint,
    ...(readerIn ? { readerIn } : {}),
    ...(readerOut ? { readerOut } : {}),
    ...(ioPort ? { ioPort } : {}),
    ...(bridge ? { bridge } : {}),
  };
}

/** Reads the root key role from a file or the bridge's anchor URL, and checks its fingerprint. */
export async function loadAnchor(source: string, fingerprint: string): Promise<KeyRole> {
  let text: string;
  if (/^https?:\/\//.test(source)) {
    try {
      const response = await fetch(source, { signal: AbortSignal.timeout(10_000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      text = await response.text();
    } catch (error) {
      throw new CliError(
        `could not fetch the root keys from ${source}: ${(error as Error).message}`,
        1,
        'Check the bridge URL and the network, or give the root keys file with --root-keys FILE.',
      );
    }
  } else {
    try {
      text = await readFile(source, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw code === 'ENOENT'
        ? usageError(
            `the root keys file ${source} does not exist`,
            'Copy the anchor file the bridge operator gave you (educard-bridge init writes it) and give its path.',
          )
        : new CliError(
            `the root keys file ${source} cannot be read (${code})`,
            1,
            'Check its permissions, or run as root.',
          );
    }
  }
  let role: KeyRole;
  try {
    role = KeyRole.parse(JSON.parse(text));
  } catch (error) {
    throw usageError(
      `${source} does not hold a root key role ({keys, threshold}): ${(error as Error).message.slice(0, 200)}`,
    );
  }
  const actual = rootFingerprint(role);
  if (!sameFingerprint(actual, fingerprint)) {
    throw new CliError(
      `the root keys' fingerprint is ${actual}, not the ${fingerprint} you typed`,
      1,
      "Do not go on: the keys may not be your school's. Check the fingerprint with the bridge operator (educard-bridge keys show).",
    );
  }
  return role;
}

/**
 * init runs as root; the service runs as its own user (deploy/install-gateway.sh makes the data
 * directory its). What init makes there is handed to that owner, or the service could not read its key.
 */
async function adoptOwner(dataDir: string, paths: string[]): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const { uid, gid } = await stat(dataDir);
  if (uid === 0) return;
  for (const path of paths) await chown(path, uid, gid);
}

/** What init found of the board and what it made of it. */
function describeBoard(board: Board, config: GatewayConfigInput): string {
  const io = config.io?.plugin ?? 'recording';
  const pins = config.io?.pins
    ? ` (${Object.entries(config.io.pins)
        .map(([part, pin]) => `${part} ${pin}`)
        .join(', ')})`
    : '';
  return [
    `board ${board.model ?? 'without a device tree (not a single-board computer)'}: gate IO ${io}${pins}`,
    board.rtc
      ? 'real-time clock: yes; events are trusted from it until NTP answers (a Pi 5 keeps time through a power cut only with its battery fitted)'
      : 'real-time clock: none; until NTP answers, events are marked unsynced',
  ].join('\n');
}

/** Loaded only on a terminal: a script never pays for the prompt library. */
const prompts = () => import('@inquirer/prompts');

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function readable(path: string, what: string): Promise<string> {
  const full = resolve(path);
  try {
    await readFile(full);
  } catch (error) {
    throw usageError(`${what} ${full} cannot be read (${(error as NodeJS.ErrnoException).code})`);
  }
  return full;
}

/** "40" makes seats S01 to S40; "A1,A2,B1" names them. */
export function seatsOf(given: string): { id: string }[] {
  const count = /^\d+$/.test(given.trim()) ? Number(given) : undefined;
  const ids =
    count !== undefined
      ? Array.from({ length: count }, (_, i) => `S${String(i + 1).padStart(2, '0')}`)
      : given
          .split(',')
          .map((id) => id.trim())
          .filter(Boolean);
  return ids.map((id) => ({ id }));
}

/** The configuration file as written: only what differs from the defaults, so a later firmware's defaults apply. */
export function buildConfig(
  answers: Awaited<ReturnType<typeof complete>>,
  dataDir: string,
  board: Board,
): GatewayConfigInput {
  const bindings = [
    ...(answers.readerIn ? [{ pattern: answers.readerIn, direction: 'in' as const }] : []),
    ...(answers.readerOut ? [{ pattern: answers.readerOut, direction: 'out' as const }] : []),
  ];
  const given = Object.fromEntries(
    Object.entries({
      relay: pin(answers.relayPin),
      greenLed: pin(answers.greenPin),
      redLed: pin(answers.redPin),
      buzzer: pin(answers.buzzerPin),
      doorContact: pin(answers.doorPin),
      exitButton: pin(answers.exitPin),
      emergencyRelease: pin(answers.emergencyPin),
      lockdown: pin(answers.lockdownPin),
    }).filter(([, value]) => value !== undefined),
  );
  // On a Pi's header with no pin given, the wiring the install guide draws.
  const pins =
    Object.keys(given).length === 0 && answers.ioPlugin === 'gpiod' && board.raspberryPi ? PI_WIRING : given;
  const tls = Object.fromEntries(
    Object.entries({ ca: answers.tlsCa, cert: answers.tlsCert, key: answers.tlsKey }).filter(([, v]) => v),
  );
  return {
    device: { id: answers.device, school: answers.school },
    dataDir,
    station: {
      type: answers.stationType as 'gate',
      id: answers.station,
      zone: answers.zone,
      ...(answers.stationType === 'lab' ? { seats: seatsOf(answers.seats ?? '') } : {}),
    },
    readers: {
      driver: answers.readers as 'pcsc' | 'simulated',
      ...(bindings.length > 0
        ? { bindings }
        : answers.readers === 'pcsc'
          ? { bindings: [{ pattern: '.', direction: 'in' as const }] }
          : {}),
    },
    io: {
      plugin: answers.ioPlugin as IoConfig['plugin'],
      ...(answers.ioPort ? { port: answers.ioPort } : {}),
      ...(Object.keys(pins).length > 0 ? { pins } : {}),
      ...(answers.relayType ? { relay: { type: answers.relayType as 'NO' | 'NC' } } : {}),
    },
    ...(answers.broker
      ? {
          uplink: {
            url: answers.broker,
            bridgeHttp: answers.bridge as string,
            ...(Object.keys(tls).length > 0 ? { tls } : {}),
          },
        }
      : {}),
  } as GatewayConfigInput;
}

export function registerInit(program: Command): void {
  example(
    program
      .command('init')
      .description(
        'make the device identity and its configuration: asks on a terminal, or takes flags in a script',
      )
      .option('--data-dir <dir>', 'where the journal, roster and device key live', DEFAULT_DATA_DIR)
      .option('--school <id>', 'the school this device belongs to')
      .option('--device <id>', "this device's name, unique in the district")
      .option('--station-type <type>', `what the station does: ${STATION_TYPES.join(', ')}`)
      .option('--seats <n|ids>', "a computer room's seats: a number, or their names separated by commas")
      .option('--station <id>', 'the station id in events (default: the device name)')
      .option('--zone <id>', 'the zone the station guards, as the roster names zones')
      .option('--readers <driver>', `card readers: ${READER_DRIVERS.join(', ')}`)
      .option('--reader-in <pattern>', 'the entry reader: a regular expression on its name')
      .option('--reader-out <pattern>', 'the exit reader, if any')
      .option('--io-plugin <plugin>', `gate IO: ${IO_PLUGINS.join(', ')}`)
      .option('--io-port <path>', 'the serial port of a Firmata board')
      .option('--relay-pin <pin>', 'strike relay pin')
      .option('--relay-type <type>', 'NO (door opens while the relay is closed) or NC')
      .option('--green-pin <pin>', 'green LED pin')
      .option('--red-pin <pin>', 'red LED pin')
      .option('--buzzer-pin <pin>', 'buzzer pin')
      .option('--door-pin <pin>', 'door contact pin')
      .option('--exit-pin <pin>', 'request-to-exit button pin')
      .option(
        '--emergency-pin <pin>',
        "emergency release input (the fire panel's normally closed alarm contact): while active the door is held unlocked",
      )
      .option(
        '--lockdown-pin <pin>',
        'lockdown switch (closing to ground): while it is on entries are refused',
      )
      .option('--bridge <url>', 'the cloud bridge, http(s)://')
      .option('--broker <url>', 'the MQTT broker, when it is not the one the bridge names at enrollment')
      .option('--tls-ca <file>', 'CA certificate of the broker')
      .option('--tls-cert <file>', "this device's client certificate")
      .option('--tls-key <file>', "the client certificate's key")
      .option(
        '--root-keys <file|url>',
        "the school's root public keys (the anchor file from educard-bridge init, or BRIDGE/v1/roster/anchor)",
      )
      .option('--root-fingerprint <hex>', 'their fingerprint, as the bridge operator reads it to you')
      .option('--no-input', 'never ask: fail on anything missing')
      .option('--force', 'overwrite an existing configuration (and make a new device key)')
      .option('--json', 'print what was written as JSON'),
    'sudo educard init',
    'sudo educard init --no-input --school school-1 --device gate-east --zone main-gate --readers pcsc \\\n      --io-plugin gpiod --relay-pin GPIO17 --bridge https://bridge.example \\\n      --root-keys anchor.json --root-fingerprint "3f2a 9c01 …"',
  ).action(async (options: InitOptions, command: Command) => {
    const path = resolve(configPath(command));
    const interactive = options.input && Boolean(process.stdin.isTTY) && Boolean(process.stdout.isTTY);
    const board = detectBoard();
    const answers = await complete(options, interactive, board);
    const dataDir = resolve(options.dataDir ?? DEFAULT_DATA_DIR);

    // Everything is checked before anything is written.
    const raw = buildConfig(answers, dataDir, board);
    const parsed = GatewayConfig.safeParse(raw);
    if (!parsed.success)
      throw usageError(`the configuration would not be valid: ${describeIssues(parsed.error)}`);
    if (answers.broker && !answers.bridge)
      throw usageError('--broker needs --bridge too (rosters come from the bridge over HTTP)');
    if ((answers.tlsCa || answers.tlsCert || answers.tlsKey) && !answers.broker)
      throw usageError(
        '--tls-ca, --tls-cert and --tls-key go with --broker (or give them to educard enroll)',
      );
    for (const [flag, file] of [
      ['CA certificate', answers.tlsCa],
      ['client certificate', answers.tlsCert],
      ['client key', answers.tlsKey],
    ] as const) {
      if (file) await readable(file, `the ${flag}`);
    }
    const anchor = await loadAnchor(answers.rootKeys, answers.rootFingerprint);
    const keyFile = join(dataDir, parsed.data.identity.keyFile);
    const rosterDir = join(dataDir, 'roster');
    if (!options.force) {
      if (await exists(path))
        throw new CliError(
          `${path} exists: this device is already set up`,
          1,
          'Add --force to set it up again (it makes a new device key: enroll again afterwards).',
        );
      const pinned = await readFile(join(rosterDir, 'anchor.json'), 'utf8').catch(() => undefined);
      if (
        pinned !== undefined &&
        rootFingerprint(KeyRole.parse(JSON.parse(pinned))) !== rootFingerprint(anchor)
      ) {
        throw new CliError(
          `${rosterDir} already trusts other root keys`,
          1,
          'Add --force to replace them (educard factory-reset first if the device changes school).',
        );
      }
    }
    if (options.force && (await gatewayRunning(parsed.data))) {
      throw new CliError(
        'the gateway is running on this configuration',
        1,
        `Stop it first: sudo systemctl stop ${SERVICE}`,
      );
    }
    if (
      interactive &&
      !(await (
        await prompts()
      ).confirm({ message: `Write ${path} and the device key in ${dataDir}?`, default: true }))
    ) {
      throw new CliError('nothing written', 1);
    }

    await mkdir(rosterDir, { recursive: true, mode: 0o750 });
    await mkdir(dirname(path), { recursive: true });
    if (options.force) await rm(keyFile, { force: true });
    const identity = await loadOrCreateIdentity(keyFile);
    await RosterStore.writeAnchor(rosterDir, anchor);
    await writeFileDurable(path, `${JSON.stringify(raw, null, 2)}\n`, 0o640);
    await adoptOwner(dataDir, [rosterDir, join(rosterDir, 'anchor.json'), keyFile]);
    const mode = ((await stat(keyFile)).mode & 0o777).toString(8);
    const summary = {
      config: path,
      dataDir,
      device: answers.device,
      school: answers.school,
      publicKey: identity.publicKey,
      keyId: identity.keyId,
      keyFile,
      keyFileMode: mode,
      rootFingerprint: rootFingerprint(anchor),
      board,
    };
    print(wantsJson(command), summary, () =>
      [
        `wrote ${path}`,
        `device key ${identity.keyId} in ${keyFile} (mode ${mode})`,
        `trusting root keys ${summary.rootFingerprint}`,
        describeBoard(board, raw),
        '',
        `next: sudo educard enroll --token TOKEN --bridge ${answers.bridge ?? 'URL'}   (a token from: educard-bridge tokens create --school ${answers.school})`,
      ].join('\n'),
    );
  });
}
