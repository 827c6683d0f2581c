export { backoffDelay, retryAfterMs } from './backoff/index.js';
export { canonicalBytes, canonicalString } from './canonical/index.js';
export { maskCardId } from './card-id/index.js';
export * from './card-profile/index.js';
export * from './contract/index.js';
export * from './crypto/index.js';
export * from './hotlist/index.js';
export { boundedLabel, OTHER_LABEL } from './metric-labels/index.js';
export * from './wall-clock/index.js';
