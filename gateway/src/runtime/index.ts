export { FIRMWARE_VERSION, GATEWAY_NODE_FLAGS, Gateway, type GatewayOptions } from './gateway.js';
