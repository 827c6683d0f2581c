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
  bridge: BridgeProcess;
  adminToken: string;
  /** The bridge's own broker user, which may publish anywhere. */
  bridgeUser: { username: string; password: string };
  /** Every node's MQTT URL, in node order. */
  brokerUrls: string[];
  stop(): Promise<void>;
}

/**
 * The scale-out set-up on this machine: a NATS cluster of `nodes` (JetStream, MQTT listener) and one
 * bridge process on it that provisions device accounts into the cluster and answers births instead of
 * retaining acks. Everything lives under `dir`.
 */
export async function startDistrict(
  dir: string,
  options: { nodes?: number; keep?: (line: string) => boolean } = {},
): Promise<District> {
  const bridgeUser = { username: 'educard-bridge', password: randomBytes(24).toString('base64url') };
  const cluster = await startNatsCluster(join(dir, 'nats'), {
    bridgeUser,
    ...(options.nodes ? { nodes: options.nodes } : {}),
  });
  const adminToken = randomBytes(18).toString('base64url');
  const brokerUrls = cluster.nodes.map((node) => node.mqttUrl);
  let bridge: BridgeProcess;
  try {
    bridge = await startBridgeProcess(
      dir,
      {
        adminToken,
        // Every simulated gateway enrolls from 127.0.0.1, where a district's come from many schools'
        // addresses: the per-address cap would turn the simulator away, not a real fleet.
        http: { port: 0, limits: { maxPerAddress: 512 } },
        mqtt: {
          embedded: false,
          url: brokerUrls[0],
          ...bridgeUser,
          retainAcks: false,
          deviceAccounts: {
            kind: 'nats',
            authFile: cluster.authFile,
            nodes: cluster.nodes.map(({ pidFile, monitorUrl }) => ({ pidFile, monitorUrl })),
          },
        },
      },
      options.keep,
    );
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return {
    cluster,
    bridge,
    adminToken,
    bridgeUser,
    brokerUrls,
    stop: async () => {
      await bridge.stop();
      await cluster.stop();
    },
  };
}
