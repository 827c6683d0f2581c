export * from './gate/index.js';
export type { StationReply, TerminalStation } from './types.js';
