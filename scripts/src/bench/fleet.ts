import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIRMWARE } from '@educard/gateway';
import { generateKeyPair, type KeyRole, keyRole, type RosterKeySet } from '@educard/terminal-sdk';
import { sampleCard, sampleUid } from '@educard/terminal-sdk/testing';
import { REPO_ROOT } from '../paths.js';
import { type BuiltRelease, removeRelease, writeReleaseArchive } from '../release/build.js';
import {
  closedCalendar,
  LightDevice,
  nameReleaseKeys,
  releaseOfThisTree,
  type ServiceLine,
  startFleetDevice,
  until,
} from '../support/index.js';
import { ADMIN, api, enroll, type RunningBridge, startBridge } from './bridge-process.js';
import { atLeast, atMost, type BenchResult, exactly, info, median } from './report.js';
import { benchCards } from './roster-fixture.js';
import { ingestRate } from './uplink.js';

const SWITCHES = 5;
const FLEET = 1000;
const SCHOOLS = 10;

/** A release of this tree at `version` whose JavaScript differs from the others' by one line. */
async function jsRelease(
  version: string,
  signers: ReturnType<typeof generateKeyPair>[],
): Promise<BuiltRelease> {
  const path = 'gateway/dist/runtime/gateway.js';
  const code = await readFile(join(REPO_ROOT, path), 'utf8');
  return releaseOfThisTree(version, signers, { [path]: `${code}\n// release ${version}\n` });
}

async function addRelease(bridge: RunningBridge, dir: string, made: BuiltRelease, base?: BuiltRelease) {
  const file = join(dir, `${made.manifest.version}.tar`);
  await writeReleaseArchive(made, file, base?.manifest);
  const response = await fetch(`${bridge.http}/v1/releases`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/x-tar' },
    body: await readFile(file),
  });
  if (!response.ok) throw new Error(`release ${made.manifest.version} not added: ${await response.text()}`);
}

async function rolledOut(bridge: RunningBridge, body: Record<string, unknown>, timeoutMs: number) {
  const made = await api(bridge, '/v1/rollouts', body);
  if (typeof made.id !== 'string') throw new Error(`rollout not made: ${JSON.stringify(made)}`);
  return until(
    async () => {
      const held = await api(bridge, `/v1/rollouts/${made.id}`);
      if (held.state === 'aborted') throw new Error(`rollout aborted: ${held.reason}`);
      return held.state === 'done' ? held : undefined;
    },
    { what: `rollout ${made.id}`, timeoutMs, everyMs: 200 },
  );
}

/** Where the time of one switch goes, from the service's log lines (each stamped by its process). */
interface SwitchParts {
  /**
   * The old release's last decision to the stop guard's line: the old process stopping and the stop
   * guard (ExecStopPost), which logs at its end.
   */
  stop: number;
  /** The stop guard's line to the start guard's: RestartSec and the start guard (ExecStartPre). */
  guards: number;
  /** The start guard's line to the new release's first decision: Node loading it and its start. */
  start: number;
  /** Of `start`, the start guard's line to the new release's "gateway starting": Node loading its modules. */
  load: number;
}

function switchParts(lines: ServiceLine[], run: number, lastTap: number, firstTap: number): SwitchParts {
  const guard = (inRun: number) => {
    const line = lines.find((said) => said.name === 'educard-update-guard' && said.run === inRun);
    if (!line) throw new Error(`no update guard line in the service's run ${inRun}`);
    return Number(line.time);
  };
  const stopped = guard(run);
  const started = guard(run + 1);
  const starting = lines.find((said) => said.msg === 'gateway starting' && said.run === run + 1);
  if (!starting) throw new Error(`no "gateway starting" line in the service's run ${run + 1}`);
  return {
    stop: stopped - lastTap,
    guards: started - stopped,
    start: firstTap - started,
    load: Number(starting.time) - started,
  };
}

/**
 * One gateway with a 10,000-card roster, run from its unit by the stand-in of systemd, tapped every
 * 10 ms while releases that differ in one JavaScript line are rolled to it: the time between the last
 * tap the old release decided and the first the new one did, and the bytes each update fetched.
 */
async function switchGap(bridge: RunningBridge, dir: string, signers: ReturnType<typeof generateKeyPair>[]) {
  const releases: BuiltRelease[] = [];
  for (let i = 0; i <= SWITCHES; i++) releases.push(await jsRelease(`1.0.${i}`, signers));
  const base = releases[0] as BuiltRelease;
  for (const made of releases) await addRelease(bridge, dir, made, made === base ? undefined : base);
  const dataDir = join(dir, 'gap-gate', 'data');
  const device = await startFleetDevice({
    dir,
    id: 'gap-gate',
    dataDir,
    credentials: await enroll(bridge, dataDir, 'gap-gate'),
    bridgeHttp: bridge.http,
    release: base,
    anchor: (await (await fetch(`${bridge.http}/v1/roster/anchor`)).json()) as KeyRole,
  });
  await device.service.waitFor((line) => line.msg === 'roster applied', 120_000);
  let card = 0;
  const tapping = setInterval(() => {
    card = (card % 10_000) + 1;
    device.tap(sampleUid(card));
  }, 10);
  const gaps: number[] = [];
  const ratios: number[] = [];
  const parts: SwitchParts[] = [];
  try {
    for (const made of releases.slice(1)) {
      const before = device.service.lines.length;
      await rolledOut(
        bridge,
        { version: made.manifest.version, devices: ['gap-gate'], phases: ['100%'], pace: 60 },
        300_000,
      );
      const lines = device.service.lines.slice(before);
      const switched = lines.find((line) => line.msg === 'update switching');
      const taps = lines.filter((line) => line.msg === 'tap');
      const last = taps.filter((line) => switched && line.run === switched.run).at(-1);
      const first = taps.find((line) => switched && line.run > switched.run);
      if (!last || !first) throw new Error(`no taps around the switch to ${made.manifest.version}`);
      gaps.push(Number(first.time) - Number(last.time));
      parts.push(switchParts(lines, switched?.run as number, Number(last.time), Number(first.time)));
      const fetched = lines
        .filter((line) => line.msg === 'release file fetched')
        .reduce((sum, line) => sum + Number(line.bytes), 0);
      ratios.push(fetched / made.bytes);
    }
  } catch (error) {
    // What the gateway said last is what explains a rollout that never ended.
    const said = device.service.lines.filter((line) => line.msg !== 'tap').slice(-40);
    for (const line of said) process.stderr.write(`gap-gate: ${JSON.stringify(line)}\n`);
    throw error;
  } finally {
    clearInterval(tapping);
    await device.service.stop();
    for (const made of releases) await removeRelease(made);
  }
  return { gaps, ratios, parts };
}

/**
 * A thousand light devices in ten schools (they verify, download what they lack and report, as a
 * gateway does) take a release from one bridge, phases canary, 10 %, 100 % at 1,000 a minute; ten
 * gateways send their backlog to the same bridge meanwhile, and once without a rollout, to compare.
 */
async function thousandDevices(
  bridge: RunningBridge,
  dir: string,
  signers: ReturnType<typeof generateKeyPair>[],
  keySet: RosterKeySet,
) {
  const a = await jsRelease('2.0.0', signers);
  const b = await jsRelease('2.0.1', signers);
  await addRelease(bridge, dir, a);
  await addRelease(bridge, dir, b, a);
  const holds = new Set(a.manifest.files.map((f) => f.sha256));
  const devices: LightDevice[] = [];
  try {
    for (let s = 0; s < SCHOOLS; s++) {
      const school = `fleet-${s}`;
      const now = Date.now();
      const card = sampleCard(
        20_000 + s,
        {
          validFrom: new Date(now - 86_400_000).toISOString(),
          validUntil: new Date(now + 30 * 86_400_000).toISOString(),
        },
        school,
      );
      await api(bridge, `/v1/roster/${school}/import`, { cards: [card], calendar: closedCalendar(now) });
      const { tokens } = (await api(bridge, '/v1/tokens', { school, count: FLEET / SCHOOLS })) as {
        tokens: string[];
      };
      const batch = await Promise.all(
        tokens.map(async (token, i) => {
          const id = `light-${s}-${i}`;
          const key = generateKeyPair();
          const answer = (await (
            await fetch(`${bridge.http}/v1/enroll`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({
                token,
                deviceId: id,
                publicKey: Buffer.from(key.publicKey).toString('base64url'),
              }),
            })
          ).json()) as { mqtt: { url: string; username: string; password: string } };
          return LightDevice.connect({
            id,
            school,
            mqttUrl: answer.mqtt.url,
            bridgeHttp: bridge.http,
            username: answer.mqtt.username,
            password: answer.mqtt.password,
            firmware: a.manifest.version,
            formats: FIRMWARE.dataFormats,
            keySet,
            holds,
          });
        }),
      );
      devices.push(...batch);
    }
    const alone = await ingestRate(bridge, dir, { rounds: 1, name: 'alone' });
    const started = performance.now();
    const during = ingestRate(bridge, dir, { rounds: 1, name: 'during' });
    // Awaited below; a rollout that fails first must not leave it an unhandled rejection that hides why.
    during.catch(() => undefined);
    await rolledOut(
      bridge,
      {
        version: b.manifest.version,
        schools: Array.from({ length: SCHOOLS }, (_, s) => `fleet-${s}`),
        phases: ['canary', '10%', '100%'],
        pace: 1000,
      },
      900_000,
    ).catch((error: unknown) => {
      // The devices' own reasons are what explains a rollout its abort rule stopped.
      for (const device of devices.filter((d) => d.failure))
        process.stderr.write(`fleet: ${device.id} failed: ${device.failure}\n`);
      throw error;
    });
    const seconds = (performance.now() - started) / 1000;
    const withRollout = await during;
    const ended = await Promise.all(devices.map((d) => d.finished));
    const committed = ended.filter((state) => state === 'committed').length;
    for (const device of devices.filter((_, i) => ended[i] !== 'committed'))
      process.stderr.write(`fleet: ${device.id} did not commit: ${device.failure ?? 'no reason given'}\n`);
    return { seconds, alone, withRollout, committed };
  } finally {
    await Promise.all(devices.map((d) => d.close()));
    await removeRelease(a);
    await removeRelease(b);
  }
}

interface FleetBridge {
  bridge: RunningBridge;
  dir: string;
  signers: ReturnType<typeof generateKeyPair>[];
  keySet: RosterKeySet;
}

/** One bridge as the fleet group uses it: school-1's 10,000-card roster and a release key named. */
async function withFleetBridge(run: (fleet: FleetBridge) => Promise<BenchResult[]>): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-fleet-'));
  await mkdir(join(dir, 'bridge'), { recursive: true });
  const bridge = await startBridge(dir, {
    config: {
      // A thousand devices on one address, each with its own connections: loopback, unlike a
      // district's NATs and routers. The bridge's own bound on downloads (releases.maxDownloads) stays.
      mqtt: { port: 0, limits: { maxPerAddress: 2000 } },
      http: { port: 0, limits: { maxConnections: 2048, maxPerAddress: 2048 } },
      rollouts: { tickMs: 200 },
      releases: { deviceBytesPerSecond: 50_000_000, schoolBytesPerSecond: 200_000_000 },
    },
  });
  try {
    const now = Date.now();
    const cards = benchCards(10_000).map((card) => ({
      ...card,
      validFrom: new Date(now - 86_400_000).toISOString(),
      validUntil: new Date(now + 30 * 86_400_000).toISOString(),
      schedules: [],
    }));
    await api(bridge, '/v1/roster/school-1/import', { cards, calendar: closedCalendar(now) });
    const signers = [generateKeyPair()];
    const keySet = await nameReleaseKeys(
      bridge.http,
      ADMIN,
      join(dir, 'bridge', 'roster-keys.json'),
      keyRole(signers),
    );
    return await run({ bridge, dir, signers, keySet });
  } finally {
    await bridge.stop();
    // Gateways of the ingest rounds may still be closing their journals: retry what they write meanwhile.
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
}

async function switchResults({ bridge, dir, signers }: FleetBridge): Promise<BenchResult[]> {
  const { gaps, ratios, parts } = await switchGap(bridge, dir, signers);
  const part = (key: keyof SwitchParts) => median(parts.map((p) => p[key]));
  return [
    atMost('fleet.update.switch_gap_ms', median(gaps), 'ms', 1500),
    info('fleet.update.switch_gap_max_ms', Math.max(...gaps), 'ms'),
    info('fleet.update.switch_stop_ms', part('stop'), 'ms'),
    info('fleet.update.switch_guards_ms', part('guards'), 'ms'),
    info('fleet.update.switch_start_ms', part('start'), 'ms'),
    info('fleet.update.switch_start_load_ms', part('load'), 'ms'),
    atMost('fleet.update.delta_bytes_ratio', median(ratios), 'ratio', 0.1),
  ];
}

async function rolloutResults({ bridge, dir, signers, keySet }: FleetBridge): Promise<BenchResult[]> {
  const fleet = await thousandDevices(bridge, dir, signers, keySet);
  return [
    atMost('fleet.rollout.1000_devices_s', fleet.seconds, 's', 600),
    exactly('fleet.rollout.committed_ratio', fleet.committed / FLEET, 'ratio', 1),
    info('fleet.rollout.ingest_alone_events_per_s', fleet.alone, 'events/s'),
    atLeast('fleet.rollout.ingest_during_ratio', fleet.withRollout / fleet.alone, 'ratio', 0.5),
  ];
}

/** The whole fleet group: a switch of one gateway, then the 1,000-device rollout, on one bridge. */
export const fleetBench = () =>
  withFleetBridge(async (fleet) => [...(await switchResults(fleet)), ...(await rolloutResults(fleet))]);
/** The switch of one gateway alone (fleet.update.*). */
export const fleetSwitchBench = () => withFleetBridge(switchResults);
/** The 1,000-device rollout alone (fleet.rollout.*). */
export const fleetRolloutBench = () => withFleetBridge(rolloutResults);
