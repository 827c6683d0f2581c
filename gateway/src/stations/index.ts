export * from './gate/index.js';
export * from './lab/index.js';
export * from './library/index.js';
export type {
  DoorDecision,
  DoorTap,
  RecentTap,
  Station,
  StationBuild,
  StationContext,
  StationDecision,
  StationEventSource,
  StationEvents,
  StationFactory,
  StationFeeds,
  StationReply,
  TapOutcome as StationTapOutcome,
  TerminalStation,
} from './types.js';
export * from './venue/index.js';
