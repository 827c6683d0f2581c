export { UplinkConfig } from './config.js';
export type { UplinkDeps, UplinkStatus } from './deps.js';
export { Uplink } from './uplink.js';
