export { type BareBroker, startBareBroker } from './bare-broker.js';
export { type BridgeProcess, startBridgeProcess } from './bridge.js';
export { CHROMIUM, launchChromium } from './browser.js';
export { fillDisk, type Mounted, mountBtrfs, mountTmpfs } from './disks.js';
export { fetchRetrying } from './fetch-retrying.js';
export {
  closedCalendar,
  type FleetDevice,
  gatewayUnit,
  installRelease,
  nameReleaseKeys,
  releaseOfThisTree,
  startFleetDevice,
  tapLine,
} from './fleet.js';
export { type LeaseHolder, measureLeaseFailover, startLeaseHolder } from './lease-failover.js';
export { LightDevice, type LightDeviceOptions } from './light-device.js';
export { exited, freePort, type Mosquitto, type MosquittoTls, startMosquitto } from './mosquitto.js';
export { NATS_APT_COMMAND, type NatsCluster, type NatsNode, startNatsCluster } from './nats.js';
export { type PartitionedStatement, statementIntoPartition } from './partition.js';
export { missingPcscParts, PCSC_APT_COMMAND, type Pcscd, startPcscd } from './pcscd.js';
export { POSTGRES_APT_COMMAND, type Postgres, postgresBin, startPostgres } from './postgres.js';
export { type ServiceLine, ServiceManager, type UnitOverrides } from './service-manager.js';
export { until } from './until.js';
