export { UplinkConfig } from './config.js';
export { Uplink, type UplinkDeps, type UplinkStatus } from './uplink.js';
