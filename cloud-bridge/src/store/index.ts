export { openSqliteStore } from './sqlite.js';
export type { BridgeStore, ChainPoint, Device, EventFilter, Presence, StoredEvent } from './types.js';
