import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  type BridgeProcess,
  type NatsCluster,
  startBridgeProcess,
  startNatsCluster,
} from '../support/index.js';

export interface District {
  cluster: NatsCluster;
  /** The first bridge instance (the only one unless `instances` was given). */
  bridge: BridgeProcess;
  /** Every bridge instance, in the order started; `restart(i)` replaces one. */
  bridges: BridgeProcess[];
  adminToken: string;
  /** The bridge's own broker user, which may publish anywhere. */
  bridgeUser: { username: string; password: string };
  /** Every node's MQTT URL, in node order. */
  brokerUrls: string[];
  /** Starts instance `index` again (after a kill) with its configuration. */
  restart(index: number): Promise<BridgeProcess>;
  stop(): Promise<void>;
}

export interface DistrictOptions {
  nodes?: number;
  /** Bridge instances sharing the work (needs `store`): 1 unless given. */
  instances?: number;
  /** A PostgreSQL URL every instance shares; SQLite in the bridge's data directory without it. */
  store?: { url: string };
  /** More of the bridges' configuration (the central connector, the cluster's lease timing). */
  config?: Record<string, unknown>;
  keep?: (line: string) => boolean;
}

/**
 * The scale-out set-up on this machine: a NATS cluster of `nodes` (JetStream, MQTT listener) and
 * bridge processes on it that provision device accounts into the cluster and answer births instead
 * of retaining acks; several instances share one PostgreSQL and one data directory (the roster keys).
 * Everything lives under `dir`.
 */
export async function startDistrict(dir: string, options: DistrictOptions = {}): Promise<District> {
  const instances = options.instances ?? 1;
  if (instances > 1 && !options.store) throw new Error('several bridge instances need a shared store.url');
  const bridgeUser = { username: 'educard-bridge', password: randomBytes(24).toString('base64url') };
  const cluster = await startNatsCluster(join(dir, 'nats'), {
    bridgeUser,
    ...(options.nodes ? { nodes: options.nodes } : {}),
  });
  const adminToken = randomBytes(18).toString('base64url');
  const brokerUrls = cluster.nodes.map((node) => node.mqttUrl);
  /** The nodes from instance `index`'s own onward, round the list: its first, then its failover. */
  const nodesFrom = (index: number) => {
    const first = index % brokerUrls.length;
    return [...brokerUrls.slice(first), ...brokerUrls.slice(0, first)];
  };
  const config = (index: number) => ({
    ...options.config,
    dataDir: join(dir, 'bridge'),
    ...(options.store ? { store: options.store } : {}),
    adminToken,
    // Every simulated gateway enrolls from 127.0.0.1, where a district's come from many schools'
    // addresses: the per-address cap would turn the simulator away, not a real fleet.
    http: { port: 0, limits: { maxPerAddress: 512 } },
    mqtt: {
      embedded: false,
      // Each instance on its own node, as instances on several hosts would be, with the others to go
      // on to when its node is gone, as a district configures them.
      url: nodesFrom(index)[0],
      failover: nodesFrom(index).slice(1),
      ...bridgeUser,
      retainAcks: false,
      deviceAccounts: {
        kind: 'nats',
        authFile: cluster.authFile,
        nodes: cluster.nodes.map(({ pidFile, monitorUrl }) => ({ pidFile, monitorUrl })),
      },
    },
  });
  const start = (index: number) =>
    startBridgeProcess(instances > 1 ? join(dir, `instance-${index + 1}`) : dir, config(index), options.keep);
  const bridges: BridgeProcess[] = [];
  try {
    // One after another: the first makes the roster keys in the shared data directory.
    for (let index = 0; index < instances; index += 1) bridges.push(await start(index));
  } catch (error) {
    await Promise.all(bridges.map((bridge) => bridge.stop()));
    await cluster.stop();
    throw error;
  }
  return {
    cluster,
    get bridge() {
      return bridges[0] as BridgeProcess;
    },
    bridges,
    adminToken,
    bridgeUser,
    brokerUrls,
    restart: async (index) => {
      await bridges[index]?.stop();
      bridges[index] = await start(index);
      return bridges[index];
    },
    stop: async () => {
      await Promise.all(bridges.map((bridge) => bridge.stop()));
      await cluster.stop();
    },
  };
}
