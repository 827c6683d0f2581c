import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLogger,
  Gateway,
  type GatewayConfigInput,
  loadConfig,
  RosterStore,
  type SimulatedReaderDriver,
} from '@educard/gateway';
import type { EventRecord } from '@educard/terminal-sdk';
import {
  sampleCard,
  sampleCpuCard,
  sampleUid,
  TestAuthority,
  validAround,
} from '@educard/terminal-sdk/testing';

export const PASSWORD = 'uplink-pass-Zq81';

export interface Provisioned {
  dir: string;
  config: string;
  dataDir: string;
  authority: TestAuthority;
  /** When the roster the gateway holds expires, a month after it was provisioned. */
  rosterExpiresAt: string;
  /** Every record the gateway journaled, read back through the journal itself. */
  records: EventRecord[];
}

/**
 * A gateway as a device would hold it after some use, made by the real code: provisioned with a
 * TestAuthority's anchor, given a key set, a snapshot and a delta, tapped on its simulated readers,
 * then stopped. Its uplink points at a port where nothing listens, so nothing is acknowledged.
 */
export async function provisioned(options: { acknowledgeAll?: boolean; keepRunning?: boolean } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'educard-files-'));
  const dataDir = join(dir, 'data');
  const config = join(dir, 'gateway.json');
  const input: GatewayConfigInput = {
    device: { id: 'gate-01', school: 'school-1' },
    dataDir: 'data',
    station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
    readers: { driver: 'simulated', simulated: ['sim-in', 'sim-out'] },
    io: { plugin: 'recording' },
    uplink: {
      url: 'mqtt://127.0.0.1:9',
      bridgeHttp: 'http://127.0.0.1:9',
      username: 'gate-01',
      password: PASSWORD,
      backoff: { initialMs: 60_000, maxMs: 60_000 },
    },
  };
  await writeFile(config, `${JSON.stringify(input, null, 2)}\n`);
  const authority = new TestAuthority('school-1');
  await mkdir(join(dataDir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dataDir, 'roster'), authority.anchor());

  // The gateway and the commands that read its files run on the real clock: so do the roster's dates.
  const now = Date.now();
  const valid = validAround(now);
  const expiresAt = new Date(now + 30 * 86_400_000).toISOString();
  const gateway = await Gateway.start({
    config: await loadConfig(config),
    logger: createLogger('gateway', { level: process.env.EDUCARD_TEST_LOG ?? 'silent' }),
  });
  await gateway.roster.acceptKeySet(authority.keySet());
  const snapshot = authority.snapshot(
    1,
    [
      sampleCard(1, { schedules: [], ...valid }),
      sampleCard(2, { status: 'lost', schedules: [], ...valid }),
      sampleCpuCard(3, { role: 'teacher', ...valid }),
    ],
    { expiresAt },
  );
  await gateway.acceptRoster(snapshot.manifest, snapshot.body);
  const delta = authority.delta(
    1,
    2,
    [{ op: 'add', card: sampleCard(4, { role: 'staff', schedules: [], ...valid }) }],
    { expiresAt },
  );
  await gateway.acceptRoster(delta.manifest, delta.body);
  const driver = gateway.readers as SimulatedReaderDriver;
  for (const uid of [sampleUid(1), sampleUid(2), sampleUid(99), sampleUid(4), sampleUid(1)]) {
    driver.present('sim-in', { uid });
    driver.remove('sim-in');
  }
  await gateway.journal.flush();
  const records = await gateway.journal.read(1, 10_000);
  if (options.acknowledgeAll) await gateway.journal.acknowledge(records.at(-1)?.seq ?? 0);
  if (!options.keepRunning) await gateway.stop();
  return {
    dir,
    config,
    dataDir,
    authority,
    rosterExpiresAt: expiresAt,
    records,
    gateway,
  } satisfies Provisioned & { gateway: Gateway };
}
