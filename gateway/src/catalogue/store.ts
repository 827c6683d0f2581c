import type { CatalogueManifest } from '@educard/terminal-sdk';
import {
  DEFAULT_MAX_SNAPSHOT_BYTES,
  SignedSnapshotStore,
  type SignedSnapshotStoreOptions,
  type SnapshotAcceptResult,
  type SnapshotBodySource,
  type SnapshotKind,
} from '../signed-snapshots/index.js';
import { CatalogueIndex, verifyCatalogueBody, verifyCatalogueManifest } from './verify.js';

export const DEFAULT_MAX_CATALOGUE_BYTES = DEFAULT_MAX_SNAPSHOT_BYTES;
export type CatalogueStoreOptions = SignedSnapshotStoreOptions;
export type CatalogueAcceptResult = SnapshotAcceptResult;
export type CatalogueBodySource = SnapshotBodySource<CatalogueManifest>;

const CATALOGUE: SnapshotKind<CatalogueManifest, CatalogueIndex> = {
  name: 'catalogue',
  verifyManifest: verifyCatalogueManifest,
  load: (manifest, bytes, maxBodyBytes) =>
    new CatalogueIndex(verifyCatalogueBody(manifest, bytes, maxBodyBytes), manifest),
  size: (index) => index.size,
};

/**
 * The library catalogue in force, kept as its signed files and in memory as an index: the roster's
 * trust, snapshots only (SignedSnapshotStore).
 */
export class CatalogueStore extends SignedSnapshotStore<CatalogueManifest, CatalogueIndex> {
  static open(options: CatalogueStoreOptions): Promise<CatalogueStore> {
    return SignedSnapshotStore.loaded(new CatalogueStore(CATALOGUE, options));
  }
}
