import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Bridge, parseBridgeConfig } from '@educard/cloud-bridge';
import { testStoreConfig } from '@educard/cloud-bridge/test-store';
import {
  createLogger,
  Gateway,
  type IoConfig,
  loadOrCreateIdentity,
  parseConfig,
  type RecordingIO,
  RosterStore,
  type SimulatedReaderDriver,
} from '@educard/gateway';
import { sampleUid, TestAuthority } from '@educard/terminal-sdk/testing';
import { type Logger, pino } from 'pino';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

/**
 * A real bridge on free ports, its store on the run's backend (SQLite, or PostgreSQL in the postgres
 * test project); `logger` and `now` (its clock of sessions and alarms) for tests that need them.
 */
export async function startBridge(
  dataDir: string,
  overrides: Record<string, unknown> = {},
  {
    logger = pino({ level: process.env.EDUCARD_TEST_LOG ?? 'silent' }),
    now,
  }: { logger?: Logger; now?: () => Date } = {},
): Promise<Bridge> {
  const config = parseBridgeConfig({
    dataDir,
    adminToken: ADMIN_TOKEN,
    mqtt: { port: 0 },
    http: { port: 0 },
    ...testStoreConfig(dataDir),
    ...overrides,
  });
  return Bridge.start(config, logger, now);
}

/**
 * A gate enrolled in the bridge's store at `atMs` (its own clock), with no gateway behind it: for tests
 * that commit its passages themselves and need the bridge to know the school has a gate.
 */
export function enrollStoreGate(bridge: Bridge, id: string, school: string, atMs: number): void {
  const [token] = bridge.store.createTokens(school, 1, new Date(atMs + 86_400_000).toISOString()) as [string];
  bridge.store.enrollDevice(token, { id, publicKey: 'k', secretHash: 'h' }, new Date(atMs).toISOString());
}

export async function admin(
  bridgeHttp: string,
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const response = await fetch(`${bridgeHttp}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await response.json()) as Record<string, unknown>;
}

/** Makes a device key in the gateway's data dir and enrolls it with a fresh token: what a technician does. */
export async function enrollDevice(
  bridgeHttp: string,
  dataDir: string,
  deviceId: string,
  school = 'school-1',
) {
  await mkdir(dataDir, { recursive: true });
  const identity = await loadOrCreateIdentity(join(dataDir, 'device-key.json'));
  const { tokens } = (await admin(bridgeHttp, '/v1/tokens', { school, count: 1 })) as { tokens: string[] };
  const response = await fetch(`${bridgeHttp}/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: tokens[0], deviceId, publicKey: identity.publicKey }),
  });
  const granted = (await response.json()) as { mqtt: { url: string; username: string; password: string } };
  return { identity, ...granted.mqtt, token: tokens[0] as string };
}

/**
 * An in-process gateway with one simulated reader (`sim-in`, no debounce) and an uplink to `mqtt`;
 * `uplink` adds to or overrides the uplink settings (TLS, backoff). It is school-1's gate unless
 * `school` and `station` say otherwise (a library desk: `{ type: 'library', id, zone, debounceMs }`).
 */
export function startUplinkGateway(
  dataDir: string,
  deviceId: string,
  mqtt: { url: string; username: string; password: string },
  bridgeHttp: string,
  uplink: Record<string, unknown> = {},
  {
    school = 'school-1',
    station = { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
    readers = ['sim-in'],
    io,
    logger = createLogger(deviceId, { level: process.env.EDUCARD_TEST_LOG ?? 'silent' }),
  }: {
    school?: string;
    station?: Record<string, unknown>;
    readers?: string[];
    logger?: Logger;
    /** Gate IO on a recording board whose inputs the test sets (`board.setInput(pin, level)`). */
    io?: { pins: Record<string, number>; board: (config: IoConfig) => RecordingIO };
  } = {},
): Promise<Gateway> {
  const config = parseConfig({
    device: { id: deviceId, school },
    dataDir,
    station,
    readers: { simulated: readers },
    ...(io ? { io: { plugin: 'recording', pins: io.pins } } : {}),
    uplink: {
      url: mqtt.url,
      username: mqtt.username,
      password: mqtt.password,
      bridgeHttp,
      backoff: { initialMs: 50, maxMs: 500 },
      ...uplink,
    },
  });
  return Gateway.start({
    config,
    ...(io ? { io: io.board(config.io) } : {}),
    logger,
  });
}

/**
 * A gateway's configuration as `educard enroll` leaves it (`dir/gateway.json`, its data in
 * `dir/gateway`), enrolled as `deviceId` of school-1 at the bridge: for a CLI to run against it
 * (`educard doctor` asking the bridge).
 */
export async function enrolledGatewayConfig(
  dir: string,
  bridgeHttp: string,
  deviceId: string,
): Promise<string> {
  const dataDir = join(dir, 'gateway');
  const enrolled = await enrollDevice(bridgeHttp, dataDir, deviceId);
  await mkdir(join(dataDir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dataDir, 'roster'), new TestAuthority('school-1').anchor());
  const path = join(dir, 'gateway.json');
  await writeFile(
    path,
    JSON.stringify({
      device: { id: deviceId, school: 'school-1' },
      dataDir,
      station: { id: deviceId, zone: 'main-gate', debounceMs: 0 },
      readers: { driver: 'simulated', simulated: ['east-in'] },
      uplink: { url: enrolled.url, bridgeHttp, username: enrolled.username, password: enrolled.password },
    }),
  );
  return path;
}

/** A gate enrolled at a bridge and sending to it, with what a test of the bridge's faults asks of it. */
export interface TappingGate {
  gateway: Gateway;
  /** A card shown at its reader: a grant journaled and sent. */
  tap(): void;
  /** The seqs the bridge stored for it, in id order. */
  stored(): number[];
  /** Every record it journaled (its start among them) stored once, in order, and acknowledged. */
  allStored(): boolean;
}

/** Enrolls `deviceId` (data in `dir/<deviceId>`) at `bridge` and starts it, sending over its uplink. */
export async function startTappingGate(bridge: Bridge, dir: string, deviceId: string): Promise<TappingGate> {
  const dataDir = join(dir, deviceId);
  const gateway = await startUplinkGateway(
    dataDir,
    deviceId,
    await enrollDevice(bridge.httpUrl, dataDir, deviceId),
    bridge.httpUrl,
  );
  let cards = 0;
  const stored = () =>
    bridge.store.queryEvents({ device: deviceId, limit: 100_000 }).map((e) => e.record.seq);
  return {
    gateway,
    tap: () => (gateway.readers as SimulatedReaderDriver).present('sim-in', { uid: sampleUid(++cards) }),
    stored,
    allStored: () => {
      const { lastSeq, ackedSeq } = gateway.journal.stats();
      const seqs = stored();
      return ackedSeq === lastSeq && seqs.length === lastSeq && seqs.every((seq, i) => seq === i + 1);
    },
  };
}

/** A bridge's `GET /health`, its status beside its body (503 says what is wrong). */
export interface BridgeHealth {
  status: number;
  body: {
    ok: boolean;
    database: { reachable: boolean; error?: string; nextAttemptInMs?: number };
    storeFailure?: { since: string; error: string };
    ingest: { failed: number };
  } & Record<string, unknown>;
}

export async function bridgeHealth(bridgeHttp: string): Promise<BridgeHealth> {
  const response = await fetch(`${bridgeHttp}/health`);
  return { status: response.status, body: (await response.json()) as BridgeHealth['body'] };
}
