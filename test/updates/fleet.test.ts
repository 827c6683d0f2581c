import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '@educard/cloud-bridge';
import type { BuiltRelease } from '@educard/scripts/release';
import {
  closedCalendar,
  type FleetDevice,
  releaseOfThisTree,
  tapLine,
  until,
} from '@educard/scripts/support';
import {
  type Ed25519KeyPair,
  ed25519,
  fromBase64Url,
  generateKeyPair,
  type KeyRole,
  keyRole,
  signRelease,
} from '@educard/terminal-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, admin } from '../support/bridge.js';
import { BRIDGE_CLI, EDUCARD, runCommand } from '../support/cli.js';
import { archive, faultOverlay, fleetCards, startEnrolledDevice, uidOf } from '../support/fleet.js';
import { type Child, exited, startNode } from '../support/processes.js';

/**
 * Fleet updates end to end with real processes: a bridge, and gateways installed in release roots and
 * run from the systemd unit by its stand-in (guards, restarts, watchdog). Releases are built from this
 * tree with bumped versions, some made to fail the ways a release fails.
 */

const A = '1.0.0';
const B = '1.1.0';
const LARGE = '1.2.0';
const D = '1.3.0';
const EXITS = '1.4.0';
const HANGS = '1.5.0';
const DENIES = '1.6.0';

let dir: string;
let bridge: Child;
let http: string;
let releaseKey: Ed25519KeyPair[];
const built = new Map<string, BuiltRelease>();
const devices = new Map<string, FleetDevice>();

const cli = (args: string[]) =>
  runCommand(BRIDGE_CLI, [...args, '--url', http, '--admin-token', ADMIN_TOKEN], { timeoutMs: 120_000 });
const device = (id: string) => devices.get(id) as FleetDevice;

async function rollout(id: string) {
  return (await admin(http, `/v1/rollouts/${id}`)) as {
    state: string;
    reason?: string;
    devices: { device: string; state: string; detail?: string }[];
  };
}

async function createRollout(body: Record<string, unknown>): Promise<string> {
  const made = await admin(http, '/v1/rollouts', { pace: 600, ...body });
  if (typeof made.id !== 'string') throw new Error(`rollout not made: ${JSON.stringify(made)}`);
  return made.id;
}

async function deviceEvents(id: string, type?: string) {
  const found = (await admin(http, `/v1/events?device=${id}&limit=1000${type ? `&type=${type}` : ''}`)) as {
    events: { record: { seq: number; type: string; data: Record<string, unknown> } }[];
  };
  return found.events.map((event) => event.record);
}

/** Waits until the device runs `version` committed, as its links and its own status say. */
async function settledOn(id: string, what = 'the device to settle'): Promise<string> {
  const { root } = device(id);
  return until(
    async () => {
      const current = await root.link('current');
      const committed = await root.link('committed');
      const state = await root.readState();
      return current === committed && state.phase !== 'trial' && state.journaled !== false
        ? current
        : undefined;
    },
    { what, timeoutMs: 120_000, everyMs: 200 },
  );
}

/** A tap on the device now is decided (granted: the card is valid), by whichever release runs. */
async function decides(id: string, card: number): Promise<void> {
  const { service } = device(id);
  const before = service.lines.length;
  await until(() => service.write(tapLine(uidOf(card))), { what: `${id} to take a tap` });
  await service.waitFor(
    (line) => line.msg === 'tap' && service.lines.indexOf(line) >= before && line.decision === 'grant',
    30_000,
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-'));
  await writeFile(
    join(dir, 'bridge.json'),
    JSON.stringify({
      dataDir: join(dir, 'bridge'),
      adminToken: ADMIN_TOKEN,
      mqtt: { port: 0 },
      http: { port: 0 },
      releases: { deviceBytesPerSecond: 1_000_000 },
      rollouts: { tickMs: 200 },
    }),
  );
  bridge = startNode(BRIDGE_CLI, ['serve', '--config', join(dir, 'bridge.json')]);
  const started = await bridge.waitFor((line) => line.msg === 'bridge started', 60_000);
  http = String(started.http);
  expect(
    (
      await admin(http, '/v1/roster/school-1/import', {
        cards: fleetCards(20),
        calendar: closedCalendar(Date.now()),
      })
    ).ok,
  ).toBe(true);

  // The release key, kept offline; the root (here in the development bridge's key file) names it.
  releaseKey = [generateKeyPair()];
  await writeFile(join(dir, 'release-key.pub.json'), JSON.stringify(keyRole(releaseKey)));
  const named = await cli([
    'keys',
    'releases',
    '--root-key',
    join(dir, 'bridge', 'roster-keys.json'),
    '--role',
    join(dir, 'release-key.pub.json'),
  ]);
  expect(named.code, named.stderr).toBe(0);

  built.set(A, await releaseOfThisTree(A, releaseKey));
  for (const [version, fault] of [
    [B, undefined],
    [LARGE, 'large'],
    [D, undefined],
    [EXITS, 'exits'],
    [HANGS, 'hangs'],
    [DENIES, 'denies'],
  ] as const)
    built.set(
      version,
      await releaseOfThisTree(version, releaseKey, fault ? await faultOverlay(fault) : undefined),
    );
  const base = built.get(A) as BuiltRelease;
  for (const [version, made] of built) {
    const added = await cli([
      'releases',
      'add',
      await archive(dir, made, version === A ? undefined : base),
      '--json',
    ]);
    expect(added.code, added.stderr).toBe(0);
  }

  const anchor = (await (await fetch(`${http}/v1/roster/anchor`)).json()) as KeyRole;
  const ids = ['gate-1', 'gate-2', 'gate-3', 'gate-4'];
  for (const id of ids)
    devices.set(
      id,
      await startEnrolledDevice({
        dir,
        id,
        bridgeHttp: http,
        release: base,
        anchor,
        commitTimeoutMs: 60_000,
      }),
    );
  for (const id of ids) await device(id).service.waitFor((line) => line.msg === 'roster applied', 120_000);
}, 900_000);

afterAll(async () => {
  await Promise.all([...devices.values()].map((d) => d.service.stop()));
  bridge?.process.kill('SIGTERM');
  if (bridge) await exited(bridge.process);
  for (const made of built.values()) await rm(made.dir, { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
}, 120_000);

describe('fleet updates with a bridge and gateways as processes', () => {
  it('rolls A to B: downloaded (only what changed), switched, committed after its check; every tap journaled reaches the bridge once', async () => {
    const gate = device('gate-1');
    for (let card = 1; card <= 5; card++) await decides('gate-1', card);
    // A card left on the reader holds the update lock: the switch waits until it is taken away.
    gate.service.write(
      `${JSON.stringify({ action: 'present', reader: 'sim-in', card: { uid: uidOf(6) } })}\n`,
    );
    const made = await cli([
      'rollouts',
      'create',
      '--release',
      B,
      '--devices',
      'gate-1',
      '--phases',
      '100%',
      '--pace',
      '60',
      '--json',
    ]);
    expect(made.code, made.stderr).toBe(0);
    const id = made.json<{ id: string }>().id;
    await until(async () => (await rollout(id)).devices[0]?.detail === 'a card is on reader sim-in', {
      what: 'the update to wait for the card on the reader',
      timeoutMs: 120_000,
      everyMs: 250,
    });
    expect(await gate.root.link('current')).toBe(A);
    gate.service.write(`${JSON.stringify({ action: 'remove', reader: 'sim-in' })}\n`);
    // Taps go on through the switch: those the gate takes are journaled by A or by B.
    let card = 5;
    const tapping = setInterval(() => {
      card = (card % 20) + 1;
      gate.tap(uidOf(card));
    }, 100);
    try {
      await until(async () => (await rollout(id)).devices[0]?.state === 'committed', {
        what: 'gate-1 to commit B',
        timeoutMs: 120_000,
        everyMs: 250,
      });
    } finally {
      clearInterval(tapping);
    }
    for (let n = 1; n <= 5; n++) await decides('gate-1', n);
    expect(await settledOn('gate-1')).toBe(B);
    expect(await gate.root.link('previous')).toBe(A);
    // The rollout ends at its next tick after the last device's outcome.
    await until(async () => (await rollout(id)).state === 'done', {
      what: 'the rollout to end',
      timeoutMs: 30_000,
      everyMs: 250,
    });

    // Only the files B changed came over the link, and B's signed manifest once (the offer names it).
    const fetchedLines = gate.service.lines.filter((line) => line.msg === 'release file fetched');
    const manifests = fetchedLines.filter((line) => line.file === `manifest of ${B}`);
    const fetched = fetchedLines
      .filter((line) => !manifests.includes(line))
      .reduce((sum, line) => sum + Number(line.bytes), 0);
    const full = (built.get(B) as BuiltRelease).bytes;
    expect(fetched).toBeGreaterThan(0);
    expect(fetched / full).toBeLessThan(0.01);
    expect(manifests.map((line) => Number(line.bytes))).toEqual([
      Buffer.byteLength(JSON.stringify((built.get(B) as BuiltRelease).envelope)),
    ]);

    const status = await runCommand(EDUCARD, ['update', 'status', '--json'], {
      env: { EDUCARD_CONFIG: join(dir, 'gate-1', 'gateway.json') },
    });
    expect(status.code, status.stderr).toBe(0);
    expect(status.json()).toMatchObject({
      current: B,
      committed: B,
      previous: A,
      onTrial: false,
      running: B,
    });

    // Every tap the gate decided, by either release, is at the bridge exactly once.
    const decided = gate.service.lines.filter((line) => line.msg === 'tap').length;
    const events = await until(
      async () => {
        const held = await deviceEvents('gate-1');
        return held.filter((e) => e.type === 'gate.decision').length >= decided ? held : undefined;
      },
      { what: 'the bridge to hold every tap', timeoutMs: 60_000, everyMs: 250 },
    );
    expect(events.filter((e) => e.type === 'gate.decision')).toHaveLength(decided);
    expect(new Set(events.map((e) => e.seq)).size).toBe(events.length);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.find((e) => e.type === 'update.switched')?.data).toMatchObject({
      from: A,
      to: B,
      rollout: id,
    });
    expect(events.find((e) => e.type === 'update.committed')?.data).toMatchObject({ from: A, to: B });
    const runs = new Set(gate.service.lines.filter((line) => line.msg === 'tap').map((line) => line.run));
    expect(runs.size).toBeGreaterThanOrEqual(2);
  }, 300_000);

  it.each([
    { version: EXITS, canary: 'gate-2', why: /exited with status 3/ },
    { version: HANGS, canary: 'gate-3', why: /watchdog/ },
    {
      version: DENIES,
      canary: 'gate-2',
      why: /self-test: valid card: deny \(not-in-zone\), expected grant \(ok\)/,
    },
  ])(
    'a release that $why.source ends back on A by itself, reports update.failed, and the rollout aborts by its rule',
    async ({ version, canary, why }) => {
      const id = await createRollout({
        version,
        devices: [canary, 'gate-4'],
        phases: ['canary', '100%'],
        abort: { failures: 1 },
      });
      const done = await until(
        async () => {
          const held = await rollout(id);
          return held.state === 'aborted' ? held : undefined;
        },
        { what: `the rollout of ${version} to abort`, timeoutMs: 180_000, everyMs: 250 },
      );
      expect(done.reason).toMatch(/1 device\(s\) failed/);
      expect(done.devices.find((d) => d.device === canary)).toMatchObject({
        state: 'rolled-back',
        detail: expect.stringMatching(why),
      });
      // The rest of the fleet was never offered it.
      expect(done.devices.find((d) => d.device === 'gate-4')).toMatchObject({ state: 'withdrawn' });
      expect(await settledOn(canary)).toBe(A);
      expect(await device('gate-4').root.link('current')).toBe(A);
      await decides(canary, 3);
      const failed = await until(
        async () => (await deviceEvents(canary, 'update.failed')).find((e) => e.data.version === version),
        { what: 'update.failed at the bridge', timeoutMs: 60_000, everyMs: 250 },
      );
      expect(failed.data).toMatchObject({
        version,
        running: A,
        rollout: id,
        reason: expect.stringMatching(why),
      });
      const audit = (await admin(http, '/v1/audit?limit=200')) as {
        entries: { actor: string; action: string; target?: string }[];
      };
      expect(audit.entries).toContainEqual(
        expect.objectContaining({ actor: 'rollout-rule', action: 'rollouts.abort', target: `rollout:${id}` }),
      );
    },
    300_000,
  );

  it('SIGKILL during the download, the switch and the commit check: A or the new release committed, never between; a download resumes where it stopped', async () => {
    // During the download: the gateway is killed with a third of a 3 MB file fetched.
    const gate = device('gate-1');
    const large = await createRollout({ version: LARGE, devices: ['gate-1'], phases: ['100%'] });
    // Killed once a part of the large file is on disk (fetched at 1 MB/s, it takes three seconds).
    const payloadSha = (built.get(LARGE) as BuiltRelease).manifest.files.find((f) =>
      f.path.endsWith('update-test-payload.bin'),
    )?.sha256 as string;
    await until(
      async () =>
        ((await stat(join(gate.root.downloads, `${payloadSha}.part`)).catch(() => undefined))?.size ?? 0) >
        100_000,
      { what: 'a part of the large file on disk', timeoutMs: 120_000, everyMs: 50 },
    );
    gate.service.kill('SIGKILL');
    // During the switch and during the check, on two more devices at once: earlier rollouts printed
    // these lines too, so only those of this one count.
    const printed = (id: string) => device(id).service.lines.length;
    const since = { 'gate-2': printed('gate-2'), 'gate-3': printed('gate-3') };
    const second = await createRollout({
      version: D,
      devices: ['gate-2', 'gate-3'],
      phases: ['100%'],
      abort: { failures: 5 },
    });
    await Promise.all([
      device('gate-2')
        .service.waitFor((line) => line.msg === 'update switching', 120_000, since['gate-2'])
        .then(() => device('gate-2').service.kill('SIGKILL')),
      device('gate-3')
        .service.waitFor((line) => line.msg === 'commit check started', 120_000, since['gate-3'])
        .then(() => device('gate-3').service.kill('SIGKILL')),
    ]);

    await until(async () => (await rollout(large)).devices[0]?.state === 'committed', {
      what: 'gate-1 to commit the release whose download was cut',
      timeoutMs: 180_000,
      everyMs: 250,
    });
    expect(await settledOn('gate-1', 'gate-1 after the kill in its download')).toBe(LARGE);
    const payload = (built.get(LARGE) as BuiltRelease).manifest.files.find((f) =>
      f.path.endsWith('update-test-payload.bin'),
    );
    const fetches = gate.service.lines.filter(
      (line) => line.msg === 'release file fetched' && line.file === payload?.path,
    );
    // One fetch completed the file, from where the killed one had stopped: nothing was fetched twice.
    expect(fetches).toHaveLength(1);
    expect(Number(fetches[0]?.resumedFrom)).toBeGreaterThan(0);
    expect(Number(fetches[0]?.bytes) + Number(fetches[0]?.resumedFrom)).toBe(payload?.size);
    expect((await rollout(large)).devices[0]?.state).toBe('committed');

    await until(
      async () =>
        (await rollout(second)).devices.every((d) => ['committed', 'rolled-back'].includes(d.state)),
      { what: 'both killed devices to report their outcome', timeoutMs: 180_000, everyMs: 250 },
    );
    for (const id of ['gate-2', 'gate-3']) {
      const on = await settledOn(id, `${id} after its kill`);
      expect([A, D]).toContain(on);
      expect(await device(id).root.link('committed')).toBe(on);
      await decides(id, 4);
    }
    const rows = (
      await until(
        async () => {
          const held = await rollout(second);
          return held.devices.every((d) => ['committed', 'rolled-back'].includes(d.state)) ? held : undefined;
        },
        { what: 'both devices to report their outcome', timeoutMs: 60_000, everyMs: 250 },
      )
    ).devices;
    for (const row of rows)
      expect(row.state).toBe(
        (await device(row.device).root.link('current')) === D ? 'committed' : 'rolled-back',
      );
  }, 400_000);

  it('refuses a release signed by the roster key, by an unknown key, an older one and a tampered one: nothing switched', async () => {
    const b = built.get(B) as BuiltRelease;
    const rosterKey = JSON.parse(await readFile(join(dir, 'bridge', 'roster-keys.json'), 'utf8')).roster.map(
      (seed: string) => ed25519.keyPairFromSeed(fromBase64Url(seed)),
    );
    /** B's files under another version and signature: an archive of what the bridge has already. */
    const forged = async (version: string, signers: Ed25519KeyPair[]) => {
      const folder = join(dir, `forged-${version}`);
      await mkdir(folder);
      const envelope = signRelease({ ...b.manifest, version }, signers);
      await writeFile(join(folder, 'manifest.json'), JSON.stringify(envelope));
      await symlink(join(b.dir, 'files'), join(folder, 'files'));
      return {
        envelope,
        file: await archive(dir, { ...b, envelope, manifest: envelope.signed, dir: folder }, b),
      };
    };
    const byRosterKey = await forged('2.0.0', rosterKey);
    const byUnknownKey = await forged('2.0.1', [generateKeyPair()]);
    const older = await forged('0.9.0', releaseKey);
    const tampered = await forged('2.0.2', releaseKey);

    // The bridge takes neither forgery from an operator…
    for (const [made, message] of [
      [byRosterKey, /signed by the roster key/],
      [byUnknownKey, /none of them a release key/],
    ] as const) {
      const refused = await cli(['releases', 'add', made.file]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(message);
    }
    for (const made of [older, tampered]) expect((await cli(['releases', 'add', made.file])).code).toBe(0);
    // …and a stolen bridge that writes them into its own database gets them refused by the device.
    const store = openSqliteStore(join(dir, 'bridge', 'bridge.db'));
    const db = store.database;
    for (const made of [byRosterKey, byUnknownKey])
      db.prepare(
        'INSERT INTO releases (version, arch, manifest, files, bytes, expires_at, added_at, added_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(
        made.envelope.signed.version,
        b.manifest.arch,
        JSON.stringify(made.envelope),
        1,
        1,
        b.manifest.expiresAt,
        new Date().toISOString(),
        'thief',
      );
    store.close();
    // The tampered release's new file is changed on the bridge after it was checked.
    const changed = b.manifest.files.find((f) => f.path === 'gateway/package.json');
    await writeFile(
      join(dir, 'bridge', 'releases', 'files', changed?.sha256 as string),
      '{"version":"6.6.6"}',
    );

    for (const [version, why] of [
      ['2.0.0', /unknown-key: signed by the roster key/],
      ['2.0.1', /unknown-key: signed by/],
      ['0.9.0', /rollback: 0\.9\.0 is older than 1\.0\.0/],
      ['2.0.2', /tampered: gateway\/package\.json/],
    ] as const) {
      const id = await createRollout({
        version,
        devices: ['gate-4'],
        phases: ['100%'],
        abort: { failures: 1 },
      });
      const done = await until(
        async () => {
          const held = await rollout(id);
          return held.state === 'aborted' ? held : undefined;
        },
        { what: `the rollout of ${version} to abort`, timeoutMs: 120_000, everyMs: 250 },
      );
      expect(done.devices[0]).toMatchObject({ state: 'refused', detail: expect.stringMatching(why) });
      expect(await device('gate-4').root.link('current')).toBe(A);
      expect(await device('gate-4').root.link('committed')).toBe(A);
    }
    await decides('gate-4', 6);
    const failures = await until(
      async () => {
        const held = await deviceEvents('gate-4', 'update.failed');
        return held.length >= 4 ? held : undefined;
      },
      { what: 'four update.failed events', timeoutMs: 60_000, everyMs: 250 },
    );
    expect(failures.map((e) => e.data.version).sort()).toEqual(['0.9.0', '2.0.0', '2.0.1', '2.0.2']);
  }, 300_000);
});
