/**
 * The bounds every listener of the gateway and the bridge applies before authentication: connections
 * in all, per address and pending; MQTT packet sizes as they arrive; WebSocket message sizes; how long
 * a request or a CONNECT may take. Node only. An embedded broker's listeners are their own subpath
 * (`@educard/terminal-sdk/broker-listeners`): they load ws, which a gate that runs no broker never needs.
 */
export { addressKey, addressMatcher, isAddressOrRange } from './addresses.js';
export { type Admission, type ConnectionCaps, ConnectionLimits, type Refusal } from './connections.js';
export { boundedHttpServer, limitConnections, timedHttpServer } from './http.js';
export {
  type HttpListenerLimits,
  httpListenerLimits,
  type MqttListenerLimits,
  mqttListenerLimits,
} from './limits.js';
export { listen, localUrl } from './listen.js';
export { LimitedMqttStream, MqttPacketScanner, type PacketLimits } from './packets.js';
export { RefusalCounter, type WarnLogger } from './refusals.js';
