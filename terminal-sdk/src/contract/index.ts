export * from './batch.js';
export { type ChainBreak, eventHash, verifyChain } from './chain.js';
export * from './common.js';
export * from './events.js';
export * from './messages.js';
export * from './roster.js';
export * from './roster-issuer.js';
export * from './signed.js';
export * from './topics.js';
