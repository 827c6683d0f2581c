/**
 * The update settings the start and stop guards read, bounds and defaults in one place for the
 * gateway's schema (config.ts) and the guards, which read them without a schema library.
 */
export const UPDATE_ROOT = '/opt/educard';
export const MAX_STARTS = { min: 1, max: 5, default: 1 } as const;
