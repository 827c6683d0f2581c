export {
  DEFAULT_MAX_SNAPSHOT_BYTES,
  SignedSnapshotStore,
  type SignedSnapshotStoreOptions,
  type SnapshotAcceptResult,
  type SnapshotBodySource,
  type SnapshotKind,
  type SnapshotManifest,
} from './store.js';
