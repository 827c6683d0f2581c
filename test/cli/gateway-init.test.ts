import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { generateKeyPair, keyRole, rootFingerprint } from '@educard/terminal-sdk';
import { spawn as spawnPty } from 'node-pty';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EDUCARD, educard, gateInitFlags } from '../support/cli.js';
import { REPO_ROOT } from '../support/processes.js';

let dir: string;
let config: string;
let dataDir: string;
let anchorFile: string;
let fingerprint: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'educard-init-'));
  config = join(dir, 'etc', 'gateway.json');
  dataDir = join(dir, 'data');
  anchorFile = join(dir, 'anchor.json');
  const role = keyRole([generateKeyPair()]);
  fingerprint = rootFingerprint(role);
  await writeFile(anchorFile, JSON.stringify(role));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const PTY_TEST_MS = 40_000;

const flags = () => gateInitFlags(dataDir, anchorFile, fingerprint);

/** What is in the temporary directory: nothing may be half-written by a refused init. */
async function tree(): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.sort();
}

/** Drives a command through a pseudo-terminal: each answer is typed once its question shows. */
function drive(args: string[], script: [RegExp, string][]): Promise<{ code: number; screen: string }> {
  return new Promise((resolve, reject) => {
    const pty = spawnPty(process.execPath, [join(REPO_ROOT, EDUCARD), ...args], {
      cols: 120,
      rows: 40,
      cwd: REPO_ROOT,
      env: { ...process.env, TERM: 'xterm' } as Record<string, string>,
    });
    let screen = '';
    let step = 0;
    let answeredAt = 0;
    const timer = setTimeout(() => {
      pty.kill();
      reject(
        new Error(`the prompt stalled at step ${step}: ${stripVTControlCharacters(screen).slice(-600)}`),
      );
    }, 20_000);
    pty.onData((data) => {
      screen += data;
      const next = script[step];
      if (!next) return;
      const plain = stripVTControlCharacters(screen.slice(answeredAt));
      if (next[0].test(plain)) {
        step += 1;
        answeredAt = screen.length;
        pty.write(next[1]);
      }
    });
    pty.onExit(({ exitCode }) => {
      clearTimeout(timer);
      resolve({ code: exitCode, screen: stripVTControlCharacters(screen) });
    });
  });
}

describe('educard init', () => {
  it(
    'asks on a terminal, validates the answers and writes the device identity and configuration',
    async () => {
      const { code, screen } = await drive(
        ['--config', config, 'init', '--data-dir', dataDir],
        [
          [/School id/, 'school 1\r'], // refused: not an identifier
          [/letters, digits/, '\u0015school-1\r'],
          [/Device name/, 'gate-pty\r'],
          [/Station type/, '\r'],
          [/Zone/, '\r'],
          [/Card readers/, '\r'],
          [/Entry reader/, '\r'],
          [/Exit reader/, 'exit-reader\r'],
          [/Gate IO/, '\r'],
          [/Bridge URL/, '\r'],
          [/Root keys/, `${anchorFile}\r`],
          [/fingerprint/, `${fingerprint.replaceAll('-', ' ')}\r`],
          [/Write /, 'y\r'],
        ],
      );
      expect(code, screen).toBe(0);
      expect(screen).toContain('next: sudo educard enroll');
      const written = JSON.parse(await readFile(config, 'utf8'));
      expect(written).toMatchObject({
        device: { id: 'gate-pty', school: 'school-1' },
        dataDir,
        station: { type: 'gate', id: 'gate-pty', zone: 'main-gate' },
        readers: {
          driver: 'pcsc',
          bindings: [
            { pattern: '.', direction: 'in' },
            { pattern: 'exit-reader', direction: 'out' },
          ],
        },
        io: { plugin: 'recording' },
      });
      expect((await stat(join(dataDir, 'device-key.json'))).mode & 0o777).toBe(0o600);
      expect(JSON.parse(await readFile(join(dataDir, 'roster', 'anchor.json'), 'utf8'))).toEqual(
        JSON.parse(await readFile(anchorFile, 'utf8')),
      );
    },
    PTY_TEST_MS,
  );

  it(
    'on a terminal, a mistyped fingerprint stops everything: nothing is written',
    async () => {
      const before = await tree();
      const { code, screen } = await drive(
        [
          '--config',
          config,
          'init',
          '--data-dir',
          dataDir,
          '--school',
          'school-1',
          '--device',
          'gate-x',
          '--station-type',
          'gate',
          '--zone',
          'main-gate',
          '--readers',
          'simulated',
          '--reader-in',
          '-in$',
          '--reader-out',
          '-out$',
          '--io-plugin',
          'recording',
          '--bridge',
          'http://127.0.0.1:9',
        ],
        [
          [/Root keys/, `\u0015${anchorFile}\r`],
          [/fingerprint/, '0000 0000 0000 0000 0000 0000 0000 0000\r'],
        ],
      );
      expect(code).toBe(1);
      expect(screen).toContain(`fingerprint is ${fingerprint}`);
      expect(screen).toContain('Do not go on');
      expect(await tree()).toEqual(before);
    },
    PTY_TEST_MS,
  );

  it('takes every answer from flags in a script, and prints JSON', async () => {
    const run = await educard(config, [
      ...flags(),
      '--relay-pin',
      'GPIO17',
      '--emergency-pin',
      'GPIO16',
      '--lockdown-pin',
      'GPIO26',
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary).toMatchObject({
      device: 'gate-east',
      school: 'school-1',
      keyFileMode: '600',
      rootFingerprint: fingerprint,
    });
    expect(summary.publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.parse(await readFile(config, 'utf8')).io.pins).toEqual({
      relay: 'GPIO17',
      emergencyRelease: 'GPIO16',
      lockdown: 'GPIO26',
    });
    const validate = await educard(config, ['doctor', '--json']);
    expect(JSON.parse(validate.stdout).checks[0]).toMatchObject({ id: 'config', status: 'pass' });
  });

  it('on a Raspberry Pi 5 (by its device-tree model), proposes the gpiod plugin with the Pi wiring, and the RTC', async () => {
    const model = join(dir, 'model');
    await writeFile(model, 'Raspberry Pi 5 Model B Rev 1.0\0');
    const withoutPlugin = flags().filter((flag) => flag !== '--io-plugin' && flag !== 'recording');
    const run = await educard(config, [...withoutPlugin, '--json'], { env: { EDUCARD_DT_MODEL: model } });
    expect(run.code, run.stderr).toBe(0);
    expect(run.json().board).toEqual({
      model: 'Raspberry Pi 5 Model B Rev 1.0',
      raspberryPi: true,
      ioPlugin: 'gpiod',
      rtc: true,
    });
    expect(JSON.parse(await readFile(config, 'utf8')).io).toEqual({
      plugin: 'gpiod',
      pins: { relay: 'GPIO17', greenLed: 'GPIO27', redLed: 'GPIO22', buzzer: 'GPIO23' },
    });
    const again = await educard(config, [...withoutPlugin, '--force', '--relay-pin', 'GPIO5'], {
      env: { EDUCARD_DT_MODEL: model },
    });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('board Raspberry Pi 5 Model B Rev 1.0: gate IO gpiod (relay GPIO5)');
    expect(again.stdout).toMatch(/real-time clock: yes; events are trusted from it until NTP answers/);

    await writeFile(model, 'Raspberry Pi 4 Model B Rev 1.5\0');
    const pi4 = await educard(config, [...withoutPlugin, '--force', '--json'], {
      env: { EDUCARD_DT_MODEL: model },
    });
    expect(pi4.json().board).toMatchObject({ raspberryPi: true, ioPlugin: 'gpiod' });
    const pc = await educard(config, [...withoutPlugin, '--force', '--json'], {
      env: { EDUCARD_DT_MODEL: join(dir, 'no-device-tree') },
    });
    expect(pc.json().board).toMatchObject({ raspberryPi: false, ioPlugin: 'recording' });
    expect(JSON.parse(await readFile(config, 'utf8')).io).toEqual({ plugin: 'recording' });
  });

  it('refuses bad usage with exit code 2 and writes nothing', async () => {
    const before = await tree();
    const cases: [string[], RegExp][] = [
      [[...flags(), '--bogus'], /unknown option '--bogus'/],
      [
        flags().filter((_, i, all) => all[i] !== '--school' && all[i - 1] !== '--school'),
        /School id is needed: give --school/,
      ],
      [
        [
          ...flags().slice(0, -4),
          '--root-keys',
          join(dir, 'missing.json'),
          '--root-fingerprint',
          fingerprint,
        ],
        /does not exist/,
      ],
      [[...flags(), '--zone', 'main gate'], /station\.zone/],
      [[...flags(), '--io-plugin', 'firmata'], /io\.port: the firmata plugin needs the serial port/],
      [[...flags(), '--tls-ca', join(dir, 'ca.pem')], /go with --broker/],
    ];
    for (const [args, message] of cases) {
      const run = await educard(config, args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(await tree()).toEqual(before);
    }
  });

  it('refuses a wrong root fingerprint and an unreadable root key file with exit 1, writing nothing', async () => {
    const before = await tree();
    const wrong = await educard(config, [...flags().slice(0, -1), 'ffff-ffff-ffff-ffff-ffff-ffff-ffff-ffff']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`the root keys' fingerprint is ${fingerprint}`);
    await writeFile(anchorFile, '{"keys": "not a key role"');
    const garbled = await educard(config, flags());
    expect(garbled.code).toBe(2);
    expect(garbled.stderr).toContain('does not hold a root key role');
    expect(await tree()).toEqual(before);
  });

  it('does not set a configured device up again without --force; with it, makes a new device key', async () => {
    const first = await educard(config, [...flags(), '--json']);
    expect(first.code).toBe(0);
    const configBytes = await readFile(config);
    const again = await educard(config, [...flags(), '--device', 'gate-west']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already set up');
    expect(again.stderr).toContain('--force');
    expect(await readFile(config)).toEqual(configBytes);
    const forced = await educard(config, [...flags(), '--device', 'gate-west', '--force', '--json']);
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout).keyId).not.toBe(JSON.parse(first.stdout).keyId);
    expect(JSON.parse(await readFile(config, 'utf8')).device.id).toBe('gate-west');
  });

  it('enroll refuses with a clear message when the device key cannot be read or the root keys are missing', async () => {
    expect((await educard(config, flags())).code).toBe(0);
    await writeFile(join(dataDir, 'device-key.json'), 'garbage');
    await chmod(join(dataDir, 'device-key.json'), 0o600);
    const badKey = await educard(config, [
      'enroll',
      '--token',
      'x'.repeat(24),
      '--bridge',
      'http://127.0.0.1:9',
    ]);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toContain('the device key cannot be read');
    await rm(join(dataDir, 'roster', 'anchor.json'));
    const noAnchor = await educard(config, [
      'enroll',
      '--token',
      'x'.repeat(24),
      '--bridge',
      'http://127.0.0.1:9',
    ]);
    expect(noAnchor.code).toBe(1);
    expect(noAnchor.stderr).toContain('trusts no root keys');
    const noToken = await educard(config, ['enroll', '--bridge', 'http://127.0.0.1:9']);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain("required option '--token <token>' not specified");
  });
});
