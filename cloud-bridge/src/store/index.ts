export { openSqliteStore, type SqliteBridgeStore } from './sqlite.js';
export type {
  BridgeStore,
  ChainPoint,
  Device,
  EventFilter,
  Presence,
  RosterSettings,
  RosterVersion,
  StoredEvent,
} from './types.js';
