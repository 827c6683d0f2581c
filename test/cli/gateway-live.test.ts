import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Bridge } from '@educard/cloud-bridge';
import {
  createLogger,
  Gateway,
  type GatewayConfig,
  type GatewayConfigInput,
  GpiodIO,
  loadConfig,
  RECORDING_BOARD_PINS as PINS,
  RecordingGpioBinding,
  type RecordingIO,
  RosterStore,
  recordingIoFor,
  type SimulatedReaderDriver,
} from '@educard/gateway';
import { until } from '@educard/scripts/support';
import { sampleCard, sampleUid, TestAuthority, validAround } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enrollDevice, startBridge } from '../support/bridge.js';
import { EDUCARD, educard } from '../support/cli.js';
import { REPO_ROOT } from '../support/processes.js';

let dir: string;
let gateway: Gateway | undefined;
let bridge: Bridge | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'educard-live-'));
});
afterEach(async () => {
  await gateway?.stop();
  gateway = undefined;
  await bridge?.stop();
  bridge = undefined;
  await rm(dir, { recursive: true, force: true });
});

const authority = new TestAuthority('school-1');

/** A configuration file as `educard init` would leave it, plus whatever a case needs. */
async function writeConfig(extra: Partial<GatewayConfigInput> = {}): Promise<string> {
  const path = join(dir, 'gateway.json');
  const config: GatewayConfigInput = {
    device: { id: 'gate-east', school: 'school-1' },
    dataDir: join(dir, 'data'),
    station: { id: 'gate-east', zone: 'main-gate', debounceMs: 0 },
    readers: { driver: 'simulated', simulated: ['east-in', 'east-out'] },
    ...extra,
  };
  await writeFile(path, JSON.stringify(config));
  await mkdir(join(dir, 'data', 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dir, 'data', 'roster'), authority.anchor());
  return path;
}

/** The service, in this process: the CLI reaches it over its control socket as it would on a device. */
/** The gateway and the CLI run on the real clock: the roster's dates are taken from it. */
async function startGateway(
  path: string,
  expiresAt = new Date(Date.now() + 30 * 86_400_000).toISOString(),
  io?: (config: GatewayConfig) => Promise<unknown>,
): Promise<Gateway> {
  const config = await loadConfig(path);
  const logger = createLogger('gateway', { level: process.env.EDUCARD_TEST_LOG ?? 'silent' });
  gateway = await Gateway.start({ config, logger, ...(io ? { io: await io(config) } : {}) });
  await gateway.roster.acceptKeySet(authority.keySet());
  const roster = authority.snapshot(
    1,
    [
      sampleCard(1, { schedules: [], ...validAround(Date.now()) }),
      sampleCard(2, { status: 'lost', schedules: [], ...validAround(Date.now()) }),
    ],
    { expiresAt },
  );
  await gateway.acceptRoster(roster.manifest, roster.body);
  return gateway;
}

/** A case that runs the CLI several times: each run is a Node start, seconds on a loaded machine. */
const CLI_TEST_MS = 60_000;

const check = (output: string, id: string) =>
  (
    JSON.parse(output) as { checks: { id: string; status: string; detail: string; remedy?: string }[] }
  ).checks.find((c) => c.id === id);

describe('educard with the gateway running', () => {
  it('status, readers and test-io answer over the control socket; readers --watch follows taps', {
    // A dozen commands, each a Node process: seconds apiece on a loaded runner.
    timeout: 90_000,
  }, async () => {
    const path = await writeConfig();
    const running = await startGateway(path);
    const driver = running.readers as SimulatedReaderDriver;
    driver.present('east-in', { uid: sampleUid(1) });

    const status = await educard(path, ['status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    const report = JSON.parse(status.stdout);
    expect(report).toMatchObject({
      device: { id: 'gate-east', school: 'school-1' },
      roster: { version: 1, cards: 2, expired: false },
      journal: { backlog: report.journal.lastSeq },
      uplink: null,
      readers: { driver: 'simulated' },
    });
    expect(report.lastTaps).toEqual([
      expect.objectContaining({ reader: 'east-in', decision: 'grant', card: '******0001' }),
    ]);
    const screen = await educard(path, ['status']);
    expect(screen.stdout).toMatch(/roster +version 1, 2 cards/);
    expect(screen.stdout).toMatch(/uplink +none configured/);

    const readers = JSON.parse((await educard(path, ['readers', '--json'])).stdout);
    expect(readers.readers.map((r: { name: string; direction: string }) => [r.name, r.direction])).toEqual([
      ['east-in', 'in'],
      ['east-out', 'out'],
    ]);

    const io = await educard(path, ['test-io', '--json']);
    expect(io.code, io.stderr).toBe(0);
    expect(JSON.parse(io.stdout)).toEqual({
      plugin: 'recording',
      tested: ['relay', 'leds', 'buzzer'],
      notAvailable: [],
      lines: [],
    });
    expect(running.io.status().relayClosed).toBe(true);
    expect((await educard(path, ['test-io', '--only', 'siren'])).code).toBe(2);

    const watch = spawn(process.execPath, [
      join(REPO_ROOT, EDUCARD),
      '--config',
      path,
      'readers',
      '--watch',
      '--json',
    ]);
    const taps: Record<string, unknown>[] = [];
    createInterface({ input: watch.stdout }).on('line', (line) => taps.push(JSON.parse(line)));
    // The watcher is subscribed once a tap reaches it: keep tapping until one does.
    const tapping = setInterval(() => driver.present('east-out', { uid: sampleUid(2) }), 200);
    try {
      await until(() => taps.length >= 2, { what: 'two taps from readers --watch', timeoutMs: 30_000 });
    } finally {
      clearInterval(tapping);
      watch.kill('SIGINT');
    }
    expect(taps[0]).toMatchObject({ reader: 'east-out', decision: 'deny', reason: 'lost' });
    expect(JSON.stringify(taps)).not.toContain(sampleCard(2).cardId);
  });

  it('status says the gateway is not running, with what to do, once it has stopped', async () => {
    const path = await writeConfig();
    await startGateway(path);
    await gateway?.stop();
    gateway = undefined;
    const run = await educard(path, ['status']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('the gateway is not running');
    expect(run.stderr).toContain('sudo systemctl start educard-gateway');
  });

  it("status, test-io and doctor show the gpiod plugin's lines, and a watch that died (through its recording binding)", {
    timeout: CLI_TEST_MS,
  }, async () => {
    const path = await writeConfig({
      io: {
        plugin: 'gpiod',
        pins: { relay: 'GPIO17', doorContact: 'GPIO24' },
        gpiod: { activeLow: ['relay'] },
      },
    });
    const binding = new RecordingGpioBinding();
    await startGateway(path, undefined, (config) =>
      GpiodIO.open({ config: config.io, binding, logger: createLogger('io', { level: 'silent' }) }),
    );
    const io = await educard(path, ['test-io', '--only', 'relay', '--json']);
    expect(io.json()).toMatchObject({
      plugin: 'gpiod',
      tested: ['relay'],
      lines: expect.arrayContaining([
        { part: 'relay', pin: 'GPIO17', line: 'gpiochip0:17 (GPIO17)', direction: 'output', activeLow: true },
        {
          part: 'doorContact',
          pin: 'GPIO24',
          line: 'gpiochip0:24 (GPIO24)',
          direction: 'input',
          activeLow: false,
          bias: 'pull-down',
        },
      ]),
    });
    // The relay pulse drove the active-low line low.
    expect(binding.levelOf({ chip: 'gpiochip0', offset: 17 })).toBe(0);
    expect((await educard(path, ['test-io', '--only', 'relay'])).stdout).toMatch(
      /tested: relay \(gpiod\)\n {2}relay +gpiochip0:17 \(GPIO17\) output, active-low/,
    );
    expect(check((await educard(path, ['doctor', '--json'])).stdout, 'gate-io')).toMatchObject({
      status: 'pass',
      detail: expect.stringContaining('gpiod ready: relay gpiochip0:17 (GPIO17)'),
    });
    // The watch dies and another process takes the line: every retry fails until it lets go.
    const door = { chip: 'gpiochip0', offset: 24 };
    binding.breakWatch(door, 'gpiomon killed');
    binding.claim(door, 'gpioset');
    const fault = '(gpiomon killed|gpiochip0:24 is held by "gpioset")';
    expect(check((await educard(path, ['doctor', '--json'])).stdout, 'gate-io')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(new RegExp(`doorContact gpiochip0:24 \\(GPIO24\\): ${fault}`)),
    });
    expect((await educard(path, ['status'])).stdout).toMatch(
      new RegExp(`doorContact +gpiochip0:24 \\(GPIO24\\) input, pull-down {2}FAULT: ${fault}`),
    );
  });

  it('status, doctor and the journal show an emergency release while it lasts, and its end', {
    timeout: CLI_TEST_MS,
  }, async () => {
    const path = await writeConfig({
      io: {
        plugin: 'recording',
        pins: { relay: PINS.relay, emergencyRelease: PINS.emergencyRelease },
        emergencyRelease: { restoreAfterMs: 200 },
      },
    });
    let io: RecordingIO | undefined;
    const running = await startGateway(path, undefined, async (config) => {
      io = recordingIoFor(config.io);
      return io;
    });
    io?.setInput(PINS.emergencyRelease, 1);
    await until(() => running.report().io.emergencyRelease?.active, { what: 'the release' });
    expect((await educard(path, ['status'])).stdout).toMatch(
      /EMERGENCY RELEASE since \d{4}-\S+Z: the door is held unlocked/,
    );
    expect(check((await educard(path, ['doctor', '--json'])).stdout, 'gate-io')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('the emergency release input holds the door unlocked since'),
      remedy: expect.stringContaining('a cut wire releases the door'),
    });
    io?.setInput(PINS.emergencyRelease, 0);
    await until(() => running.report().io.emergencyRelease?.active === false, { what: 'the end' });
    expect((await educard(path, ['status'])).stdout).not.toContain('EMERGENCY');
    expect(check((await educard(path, ['doctor', '--json'])).stdout, 'gate-io')?.status).toBe('pass');
    await running.journal.flush();
    const tail = (await educard(path, ['journal', 'tail', '-n', '5'])).stdout;
    expect(tail).toMatch(/door\.emergency-release +gate-east \(main-gate\)\n/);
    expect(tail).toMatch(/door\.emergency-restored gate-east \(main-gate\): released for \d+ s/);
  });

  it('a lockdown switch refuses a pupil coming in, not going out; status and the journal show it', {
    timeout: CLI_TEST_MS,
  }, async () => {
    const path = await writeConfig({
      io: { plugin: 'recording', pins: { relay: PINS.relay, lockdown: PINS.lockdown } },
      readers: {
        driver: 'simulated',
        simulated: ['east-in', 'east-out'],
        bindings: [
          { pattern: '-in$', direction: 'in' },
          { pattern: '-out$', direction: 'out' },
        ],
      },
    });
    let io: RecordingIO | undefined;
    const running = await startGateway(path, undefined, async (config) => {
      io = recordingIoFor(config.io);
      return io;
    });
    const driver = running.readers as SimulatedReaderDriver;
    io?.setInput(PINS.lockdown, 0);
    await until(() => running.report().io.lockdown?.active, { what: 'the lockdown' });
    expect((await educard(path, ['status'])).stdout).toMatch(/LOCKDOWN since \d{4}-\S+Z: entries refused/);
    expect(check((await educard(path, ['doctor', '--json'])).stdout, 'lockdown')).toMatchObject({
      status: 'warn',
      detail: 'entries are refused: its lockdown switch is on',
      remedy: expect.stringContaining('Turn the gatehouse switch off'),
    });
    const relayWrites = io?.writesTo(PINS.relay).length;
    driver.present('east-in', { uid: sampleUid(1) });
    driver.remove('east-in');
    await until(() => running.report().lastTaps.length === 1, { what: 'the entry' });
    expect(running.report().lastTaps[0]).toMatchObject({ decision: 'deny', reason: 'lockdown' });
    expect(io?.writesTo(PINS.relay).length).toBe(relayWrites);
    driver.present('east-out', { uid: sampleUid(1) });
    driver.remove('east-out');
    await until(() => running.report().lastTaps.length === 2, { what: 'the exit' });
    expect(running.report().lastTaps[1]).toMatchObject({ decision: 'grant', reason: 'ok' });
    io?.setInput(PINS.lockdown, 1);
    await until(() => running.report().io.lockdown?.active === false, { what: 'the lifting' });
    expect(check((await educard(path, ['doctor', '--json'])).stdout, 'lockdown')?.status).toBe('pass');
    await running.journal.flush();
    const tail = (await educard(path, ['journal', 'tail', '-n', '5'])).stdout;
    expect(tail).toMatch(/gate\.lockdown +gate-east \(main-gate\)\n/);
    expect(tail).toMatch(/DENY lockdown at east-in \(in\)/);
    expect(tail).toMatch(/gate\.lockdown-lifted gate-east \(main-gate\): lifted after \d+ s/);
  });

  it('doctor, with the gateway stopped, looks up the gpiod lines itself, and reports the real-time clock', {
    timeout: CLI_TEST_MS,
  }, async () => {
    const rtc = join(dir, 'rtc0');
    await mkdir(rtc);
    // The real clock, as the gateway and doctor read it: the RTC agrees with it.
    await writeFile(join(rtc, 'since_epoch'), String(Math.floor(Date.now() / 1000)));
    const path = await writeConfig({ io: { plugin: 'gpiod', pins: { relay: 'GPIO17' } }, clock: { rtc } });
    const checks = (await educard(path, ['doctor', '--json'])).stdout;
    // No GPIO chip here; where node-libgpiod is not built, doctor says so instead.
    expect(check(checks, 'gate-io')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(
        /relay \(GPIO17\): no GPIO line is named GPIO17 on any chip|needs the node-libgpiod package/,
      ),
    });
    expect(check(checks, 'rtc')).toMatchObject({
      status: 'pass',
      detail: expect.stringContaining(`${rtc} reads`),
    });
    await writeFile(join(rtc, 'since_epoch'), '42');
    expect(check((await educard(path, ['doctor', '--json'])).stdout, 'rtc')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('it lost its time'),
      remedy: expect.stringContaining('battery'),
    });
    const none = await writeConfig({ clock: { rtc: join(dir, 'rtc9') } });
    expect(check((await educard(none, ['doctor', '--json'])).stdout, 'rtc')).toMatchObject({
      status: 'skip',
    });
  });

  it('doctor names a stale roster and what to do about it', async () => {
    const path = await writeConfig();
    // Long enough for the gateway to start and doctor to run on a busy machine before it expires.
    const expiresAt = new Date(Date.now() + 8000).toISOString();
    await startGateway(path, expiresAt);
    const fresh = await educard(path, ['doctor', '--json']);
    expect(check(fresh.stdout, 'roster')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('expires soon'),
    });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(expiresAt) - Date.now() + 50)));
    const stale = await educard(path, ['doctor', '--json']);
    expect(stale.code).toBe(1);
    expect(check(stale.stdout, 'roster')).toMatchObject({
      status: 'fail',
      detail: `roster version 1 is stale: it expired at ${expiresAt}`,
      remedy: expect.stringContaining('check the uplink'),
    });
    const text = await educard(path, ['doctor']);
    expect(text.stdout).toMatch(/FAIL +roster +roster version 1 is stale/);
    expect(text.stdout).toMatch(/→ The bridge has sent nothing newer/);
  });

  it('doctor tells a broker that is down from one that refuses the credentials, running or not', async () => {
    bridge = await startBridge(join(dir, 'bridge'));
    const enrolled = await enrollDevice(bridge.httpUrl, join(dir, 'data'), 'gate-east');
    const uplink = {
      url: enrolled.url,
      bridgeHttp: bridge.httpUrl,
      username: enrolled.username,
      backoff: { initialMs: 50, maxMs: 200 },
    };

    const good = await writeConfig({ uplink: { ...uplink, password: enrolled.password } });
    expect(check((await educard(good, ['doctor', '--json'])).stdout, 'broker')).toMatchObject({
      status: 'pass',
      detail: expect.stringContaining('authenticated'),
    });

    const wrong = await writeConfig({ uplink: { ...uplink, password: 'not-the-password' } });
    const stopped = check((await educard(wrong, ['doctor', '--json'])).stdout, 'broker');
    expect(stopped).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining("refused this device's credentials"),
      remedy: expect.stringContaining('educard enroll'),
    });
    const running = await startGateway(wrong);
    await expect.poll(() => running.uplink?.status().lastError, { timeout: 10_000 }).toBeDefined();
    const live = check((await educard(wrong, ['doctor', '--json'])).stdout, 'broker');
    expect(live).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining("refused this device's credentials"),
      remedy: expect.stringContaining('educard enroll'),
    });
    await gateway?.stop();
    gateway = undefined;

    const mqttUrl = bridge.mqttUrl;
    await bridge.stop();
    bridge = undefined;
    const down = await writeConfig({ uplink: { ...uplink, url: mqttUrl, password: enrolled.password } });
    const result = await educard(down, ['doctor', '--json']);
    expect(result.code).toBe(1);
    expect(check(result.stdout, 'broker')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('cannot be reached'),
      remedy: expect.stringContaining('broker runs'),
    });
    expect(check(result.stdout, 'bridge')).toMatchObject({ status: 'fail' });
    expect(check(result.stdout, 'service')).toMatchObject({
      status: 'fail',
      remedy: expect.stringContaining('systemctl start educard-gateway'),
    });
  });
});
