export * from './card.js';
export { type ChainBreak, eventHash, verifyChain } from './chain.js';
export * from './common.js';
export * from './events.js';
export * from './roster.js';
export * from './roster-issuer.js';
export * from './signed.js';
