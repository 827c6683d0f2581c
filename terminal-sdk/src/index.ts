export { backoffDelay, retriableStatus, retryAfterMs } from './backoff/index.js';
export { Batches, type BatchesLogger, type BatchesOptions } from './batches/index.js';
export {
  BrokerNodeList,
  BrokerNodes,
  BrokerUrl,
  brokerNodesProblem,
  MAX_BROKER_NODES,
  refusedSubscription,
  refusesFilter,
} from './broker-nodes/index.js';
export { canonicalBytes, canonicalString } from './canonical/index.js';
export { maskCardId, maskCardPath } from './card-id/index.js';
export * from './card-profile/index.js';
export * from './contract/index.js';
export * from './crypto/index.js';
export * from './hotlist/index.js';
export { boundedLabel, OTHER_LABEL } from './metric-labels/index.js';
export * from './roster-variant/index.js';
export { SerialQueue } from './serial/index.js';
export { STOP_STEP_MS, Teardown, type TeardownLogger, within } from './teardown/index.js';
export { endMqttClient } from './teardown/mqtt.js';
export * from './wall-clock/index.js';
