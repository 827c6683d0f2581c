export * from './gate/index.js';
export * from './lab/index.js';
export * from './library/index.js';
export type { StationReply, TerminalStation } from './types.js';
