import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bridge, type BridgeConfigInput, parseBridgeConfig } from '@educard/cloud-bridge';
import { type GatewayConfig, loadOrCreateIdentity, parseConfig, RosterStore } from '@educard/gateway';
import type { KeyRole } from '@educard/terminal-sdk';
import { pino } from 'pino';
import { type BridgeProcess, fetchRetrying, startBridgeProcess } from '../support/index.js';

export const ADMIN = 'bench-admin-token-0123456789';

export type RunningBridge = BridgeProcess;

/**
 * The bridge as a separate process, as it runs in production, its broker embedded unless `brokerUrl`
 * names one; `config` adds sections (a central system to pull from).
 */
export function startBridge(
  dir: string,
  { brokerUrl, config = {} }: { brokerUrl?: string; config?: Record<string, unknown> } = {},
): Promise<RunningBridge> {
  return startBridgeProcess(dir, {
    adminToken: ADMIN,
    mqtt: brokerUrl ? { embedded: false, url: brokerUrl } : { port: 0 },
    ...config,
  });
}

/**
 * A bridge in the bench's own process (its store and services at hand), silent, on a temporary data
 * directory that `stop` removes; `config` adds sections.
 */
export async function inProcessBridge(
  name: string,
  config: Partial<BridgeConfigInput> = {},
): Promise<{ bridge: Bridge; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `bench-${name}-`));
  const bridge = await Bridge.start(
    parseBridgeConfig({
      dataDir: dir,
      adminToken: ADMIN,
      mqtt: { port: 0 },
      http: { port: 0, pages: false },
      log: { level: 'silent' },
      ...config,
    }),
    pino({ level: 'silent' }),
  );
  return {
    bridge,
    stop: async () => {
      await bridge.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * fetch for a benchmark's requests to the bridge, which may turn them away while a run loads it (a
 * rollout to a thousand devices): tried again after its Retry-After or a second, up to five times.
 */
const benchFetch = (url: string, init: RequestInit = {}) =>
  fetchRetrying(url, init, { tries: 5, waitMs: () => 1000 });

export async function api(
  bridge: RunningBridge,
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const response = await benchFetch(`${bridge.http}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${ADMIN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await response.json()) as Record<string, unknown>;
}

/**
 * A gate gateway of `school` made ready as a technician does it: the bridge's anchor pinned, a device
 * key, enrolled with a fresh token. Its config (one simulated reader `sim-in`), not yet started.
 */
/** Makes a device key in `dataDir` and enrolls it with a fresh token: its broker credentials. */
export async function enroll(bridge: RunningBridge, dataDir: string, device: string, school = 'school-1') {
  const identity = await loadOrCreateIdentity(join(dataDir, 'device-key.json'));
  const { tokens } = (await api(bridge, '/v1/tokens', { school, count: 1 })) as { tokens: string[] };
  const enrolled = await benchFetch(`${bridge.http}/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: tokens[0], deviceId: device, publicKey: identity.publicKey }),
  });
  const { mqtt } = (await enrolled.json()) as { mqtt: { url: string; username: string; password: string } };
  return mqtt;
}

export async function enrolledGateway(
  bridge: RunningBridge,
  dir: string,
  device: string,
  school = 'school-1',
): Promise<GatewayConfig> {
  const dataDir = join(dir, device);
  await mkdir(join(dataDir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(
    join(dataDir, 'roster'),
    (await (await benchFetch(`${bridge.http}/v1/roster/anchor`)).json()) as KeyRole,
  );
  const credentials = await enroll(bridge, dataDir, device, school);
  return parseConfig({
    device: { id: device, school },
    dataDir,
    station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
    readers: { simulated: ['sim-in'] },
    uplink: { ...credentials, bridgeHttp: bridge.http },
  });
}
