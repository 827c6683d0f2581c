export {
  type CatalogueAcceptResult,
  type CatalogueBodySource,
  CatalogueStore,
  type CatalogueStoreOptions,
  DEFAULT_MAX_CATALOGUE_BYTES,
} from './store.js';
export {
  CatalogueIndex,
  type CatalogueView,
  trustedKeySets,
  verifyCatalogueBody,
  verifyCatalogueManifest,
} from './verify.js';
