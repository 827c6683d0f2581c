// logger.ts alone is what the update guard loads: this index also brings the whole terminal-sdk.

/** How a card id may reach a log or a screen (one rule for the gateway and the bridge). */
export { maskCardId } from '@educard/terminal-sdk';
export { createLogger, type Logger, type LoggerSettings } from './logger.js';
