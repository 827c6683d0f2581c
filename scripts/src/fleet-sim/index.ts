export { type DeviceCounters, SimulatedDevice, type SimulatedDeviceOptions } from './device.js';
export { type District, type DistrictOptions, startDistrict } from './district.js';
export { Fleet, type FleetOptions, type FleetStats } from './fleet.js';
export { type DistrictRunOptions, type DistrictRunResult, runDistrict } from './run.js';
