export {
  FIRMWARE_VERSION,
  GATEWAY_NODE_FLAGS,
  Gateway,
  type GatewayOptions,
  RESTART_EXIT_CODE,
} from './gateway.js';
