export * from './gate/index.js';
export * from './lab/index.js';
export * from './library/index.js';
export type {
  DoorDecision,
  DoorStation,
  DoorTap,
  StationReply,
  TerminalStation,
} from './types.js';
export * from './venue/index.js';
