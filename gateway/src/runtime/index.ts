export { FIRMWARE_VERSION, Gateway, type GatewayOptions } from './gateway.js';
