export {
  DEFAULT_MAX_HOTLIST_BYTES,
  type HotlistAcceptResult,
  type HotlistBodySource,
  HotlistStore,
  type HotlistStoreOptions,
  type HotlistView,
} from './store.js';
